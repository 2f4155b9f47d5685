// The document's structure (sections, numbered paragraphs) and each paragraph's rich text,
// read straight from the shared Yjs text, so the amendments view knows them without the editor
// being on the page, and follows every change live. Reading only: nothing is written to the
// shared document here.
import { useEffect, useState } from 'preact/hooks'
import type { Mark, Node as PMNode } from 'prosemirror-model'
import * as Y from 'yjs'
import type { Span } from '../../api/types'
import type { DocumentSession } from '../../document/session'
import { schema } from '../../editor/schema'
import { structure, type SectionInfo } from '../../editor/structure'

export interface LiveText {
  sections: SectionInfo[]
  /** Each paragraph's text with its emphasis, by id. */
  spans: Map<string, Span[]>
}

/** Mark names as y-prosemirror stores them ("em", or "em--" + a hash), and TipTap's. */
function markName(key: string): 'em' | 'strong' | null {
  const name = key.split('--')[0]
  if (name === 'em' || name === 'italic') return 'em'
  if (name === 'strong' || name === 'bold') return 'strong'
  return null
}

/** The shared fragment as a ProseMirror document of the editor's schema. */
export function readFragment(fragment: Y.XmlFragment): PMNode {
  const blocks: PMNode[] = []
  for (const child of fragment.toArray()) {
    if (!(child instanceof Y.XmlElement)) continue
    if (child.nodeName !== 'heading' && child.nodeName !== 'paragraph') continue
    const inline: PMNode[] = []
    for (const part of child.toArray()) {
      if (!(part instanceof Y.XmlText)) continue
      for (const op of part.toDelta() as { insert: unknown; attributes?: Record<string, unknown> }[]) {
        if (typeof op.insert !== 'string' || op.insert === '') continue
        const names = new Set<'em' | 'strong'>()
        for (const [key, value] of Object.entries(op.attributes ?? {})) {
          const name = markName(key)
          if (name && value !== null && value !== false) names.add(name)
        }
        const marks: Mark[] = []
        if (names.has('em')) marks.push(schema.marks.em.create())
        if (names.has('strong')) marks.push(schema.marks.strong.create())
        inline.push(schema.text(op.insert, marks))
      }
    }
    const id = (child.getAttribute('id') as string | undefined) ?? null
    blocks.push(
      child.nodeName === 'heading'
        ? schema.node('heading', { id, kind: child.getAttribute('kind') ?? 'numbered', level: '1' }, inline)
        : schema.node('paragraph', { id }, inline),
    )
  }
  // Unchecked: an empty text (before the first sync) is a valid state to read here.
  return schema.topNodeType.create(null, blocks)
}

/** Sections and paragraph spans of a ProseMirror document. */
export function liveTextOf(doc: PMNode): LiveText {
  const spans = new Map<string, Span[]>()
  doc.forEach((node) => {
    if (node.type.name !== 'paragraph' || !node.attrs.id) return
    const list: Span[] = []
    node.forEach((text) => {
      const em = text.marks.some((m) => m.type.name === 'em')
      const strong = text.marks.some((m) => m.type.name === 'strong')
      const last = list[list.length - 1]
      if (last && last.em === em && last.strong === strong) last.text += text.text ?? ''
      else list.push({ text: text.text ?? '', em, strong })
    })
    spans.set(node.attrs.id as string, list)
  })
  return { sections: structure(doc).sections, spans }
}

/** The live structure of the session's text, recomputed (at most every 200 ms) as it changes. */
export function useLiveText(session: DocumentSession): LiveText {
  const [live, setLive] = useState<LiveText>(() => liveTextOf(readFragment(session.fragment)))
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const refresh = () => {
      if (timer) return
      timer = setTimeout(() => {
        timer = undefined
        setLive(liveTextOf(readFragment(session.fragment)))
      }, 200)
    }
    session.fragment.observeDeep(refresh)
    // What arrived between the first render and this effect.
    setLive(liveTextOf(readFragment(session.fragment)))
    return () => {
      session.fragment.unobserveDeep(refresh)
      clearTimeout(timer)
    }
  }, [session])
  return live
}

/** The paragraphs of `sections` that have an id, in order. */
export function paragraphsOf(sections: SectionInfo[]) {
  return sections.flatMap((section) => section.paragraphs.filter((p) => p.id !== null).map((p) => ({ ...p, id: p.id! })))
}
