// The live text: ProseMirror bound to the shared Yjs fragment by y-prosemirror, with the
// other people's cursors and selections (named, in their colour), the derived numbers in the
// margin, and the selection reported to the page in the server's terms.
import { effect } from '@preact/signals'
import { useEffect, useRef } from 'preact/hooks'
import { baseKeymap, toggleMark } from 'prosemirror-commands'
import { keymap } from 'prosemirror-keymap'
import { EditorState, Plugin, PluginKey, Selection } from 'prosemirror-state'
import { Decoration, DecorationSet, EditorView } from 'prosemirror-view'
import { redo, undo, yCursorPlugin, ySyncPlugin, yUndoPlugin } from 'y-prosemirror'
import type { DocumentSession } from '../document/session'
import { messages } from '../i18n'
import { schema } from './schema'
import { structure } from './structure'

const t = messages({
  en: { label: 'Text of the Manifesto', read_only_label: 'Text of the Manifesto (read-only)' },
  fr: { label: 'Texte du Manifeste', read_only_label: 'Texte du Manifeste (lecture seule)' },
})

/** The editor on the page, for the outline and the panels to move the caret. */
let currentView: EditorView | null = null

const numbersKey = new PluginKey<DecorationSet>('numbers')

/** Margin numbers as node decorations (`data-number`), recomputed when the text changes. */
function numbersPlugin(session: DocumentSession) {
  const build = (state: EditorState) => {
    const { blocks, sections } = structure(state.doc)
    session.sections.value = sections
    return DecorationSet.create(
      state.doc,
      blocks.map((block) => {
        const node = state.doc.nodeAt(block.pos)!
        return Decoration.node(block.pos, block.pos + node.nodeSize, {
          'data-number': block.number ?? '',
          class: block.number ? 'numbered' : 'unnumbered',
        })
      }),
    )
  }
  return new Plugin<DecorationSet>({
    key: numbersKey,
    state: {
      init: (_, state) => build(state),
      apply: (tr, old, _oldState, state) => (tr.docChanged ? build(state) : old),
    },
    props: { decorations: (state) => numbersKey.getState(state) },
  })
}

const highlightsKey = new PluginKey('highlights')

/** Marks the session's highlight ranges (comment anchors) in the text. */
function highlightsPlugin(session: DocumentSession) {
  return new Plugin({
    key: highlightsKey,
    props: {
      decorations: (state) => {
        const wanted = session.highlights.value
        if (wanted.length === 0) return DecorationSet.empty
        const starts = new Map<string, { pos: number; size: number }>()
        state.doc.forEach((node, pos) => {
          if (node.attrs.id) starts.set(node.attrs.id, { pos: pos + 1, size: node.content.size })
        })
        const decorations: Decoration[] = []
        for (const h of wanted) {
          const block = starts.get(h.block)
          if (!block) continue
          const from = block.pos + Math.max(0, Math.min(h.start, block.size))
          const to = block.pos + Math.max(0, Math.min(h.end, block.size))
          if (to > from) decorations.push(Decoration.inline(from, to, { class: h.className, 'data-highlight': h.key }))
        }
        return DecorationSet.create(state.doc, decorations)
      },
    },
  })
}

/** Reports the selection: the block, its section, UTF-16 offsets in the block, the quote. */
function selectionPlugin(session: DocumentSession) {
  return new Plugin({
    view: () => ({
      update: (view) => {
        const { from, to, $from } = view.state.selection
        const block = $from.depth >= 1 ? $from.node(1) : null
        if (!block) {
          session.selection.value = null
          return
        }
        const blockStart = $from.before(1) + 1
        const blockEnd = blockStart + block.content.size
        const start = from - blockStart
        const end = Math.min(to, blockEnd) - blockStart
        const { blocks } = structure(view.state.doc)
        const info = blocks.find((b) => b.pos === $from.before(1))
        const previous = session.selection.value
        const next = {
          block: block.attrs.id as string | null,
          blockType: block.type.name as 'heading' | 'paragraph',
          section: info?.section ?? '',
          start,
          end,
          quote: view.state.doc.textBetween(from, Math.min(to, blockEnd)),
        }
        if (
          !previous ||
          previous.block !== next.block ||
          previous.start !== next.start ||
          previous.end !== next.end ||
          previous.section !== next.section
        ) {
          session.selection.value = next
        }
      },
    }),
  })
}

function cursorBuilder(user: { name?: string; color?: string }): HTMLElement {
  const cursor = document.createElement('span')
  cursor.className = 'remote-cursor'
  cursor.style.borderColor = user.color ?? '#333'
  const label = document.createElement('span')
  label.className = 'remote-cursor-label'
  label.style.backgroundColor = user.color ?? '#333'
  label.textContent = user.name ?? '?'
  cursor.append('\u2060', label, '\u2060')
  return cursor
}

export function Editor({ session }: { session: DocumentSession }) {
  const host = useRef<HTMLDivElement>(null)

  useEffect(() => {
    const state = EditorState.create({
      schema,
      plugins: [
        ySyncPlugin(session.fragment),
        yCursorPlugin(session.provider.awareness, {
          cursorBuilder,
          selectionBuilder: (user: { colorLight?: string }) => ({
            style: `background-color: ${user.colorLight ?? 'rgba(80,120,200,.3)'}`,
            class: 'remote-selection',
          }),
        }),
        yUndoPlugin(),
        keymap({
          'Mod-z': undo,
          'Mod-y': redo,
          'Mod-Shift-z': redo,
          'Mod-i': toggleMark(schema.marks.em),
          'Mod-b': toggleMark(schema.marks.strong),
        }),
        keymap(baseKeymap),
        numbersPlugin(session),
        highlightsPlugin(session),
        selectionPlugin(session),
      ],
    })
    const view = new EditorView(host.current!, {
      state,
      editable: () => session.editable.value,
      attributes: () => ({
        class: 'manuscript',
        role: 'textbox',
        'aria-multiline': 'true',
        'aria-label': session.editable.value ? t('label') : t('read_only_label'),
        'aria-readonly': String(!session.editable.value),
        spellcheck: 'true',
        lang: session.record.value?.metadata.language ?? '',
      }),
    })
    // Re-read `editable` and the attributes when the phase or the record changes.
    const stop = effect(() => {
      session.editable.value
      session.record.value
      session.highlights.value
      view.setProps({})
    })
    currentView = view
    return () => {
      stop()
      if (currentView === view) currentView = null
      view.destroy()
    }
  }, [session])

  return <div ref={host} class="editor-host" />
}

/** Scrolls the block with this id into view and puts the caret at its start. */
export function focusBlock(id: string) {
  const element = document.querySelector(`.manuscript [data-id="${CSS.escape(id)}"]`)
  if (!element) return
  element.scrollIntoView({ block: 'center' })
  const view = currentView
  if (!view) return
  const pos = view.posAtDOM(element, 0)
  view.dispatch(view.state.tr.setSelection(Selection.near(view.state.doc.resolve(pos))))
  view.focus()
}
