// The comments panel's logic: body checks, anchors followed live in the shared text, places,
// groups and order of threads, the marks in the text, and who is offered which control.
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { AnchorView, CommentsView, CommentView, ThreadView } from '../src/api/types'
import type { SectionInfo } from '../src/editor/structure'
import {
  ACTIVE_ANCHOR_CLASS,
  applyEvent,
  ANCHOR_CLASS,
  bodyLength,
  canDelete,
  canEdit,
  canHide,
  canSetStatus,
  canWrite,
  groupThreads,
  highlightsFor,
  isEmptyThread,
  isShown,
  mergeHighlights,
  openCount,
  ORPHANED_GROUP,
  placeThreads,
  rangeAnchor,
  resolveAll,
  resolveLive,
  sameLive,
  textProblem,
  type LiveAnchor,
} from '../src/features/comments/threads'

// --- fixtures -------------------------------------------------------------------------------

function comment(id: number, extra: Partial<CommentView> = {}): CommentView {
  return {
    id,
    document: 'demo-en',
    thread: extra.parent ?? id,
    parent: null,
    author: { id: 1, name: 'Alice Martin' },
    body: `comment ${id}`,
    created_at: '2026-01-29T10:00:00Z',
    edited: false,
    revisions: [],
    status: extra.parent ? null : 'open',
    deleted: false,
    hidden: false,
    ...extra,
  }
}

function sectionAnchor(section: string, orphaned = false): AnchorView {
  return { kind: 'section', section_id: section, orphaned }
}

function rangeView(paragraph: string, section: string, start: number, end: number, quote: string, extra: Partial<AnchorView> = {}): AnchorView {
  return { kind: 'range', section_id: section, paragraph_id: paragraph, start, end, quote, text_now: quote, orphaned: false, ...extra }
}

function thread(id: number, anchor: AnchorView, extra: Partial<CommentView> = {}, replies: CommentView[] = []): ThreadView {
  return { root: comment(id, { anchor, ...extra }), replies }
}

function block(id: string, section: string, number: string | null) {
  return { pos: 0, id, type: 'paragraph' as const, number, section, text: '' }
}

const SECTIONS: SectionInfo[] = [
  { id: 's-pre', kind: 'preamble', number: null, title: 'Preamble', pos: 0, paragraphs: [block('p-pre1', 's-pre', null)] },
  { id: 's-one', kind: 'numbered', number: 1, title: 'Keeping value', pos: 10, paragraphs: [block('p-11', 's-one', '1.1'), block('p-12', 's-one', '1.2')] },
  { id: 's-two', kind: 'numbered', number: 2, title: 'Shared ownership', pos: 20, paragraphs: [block('p-21', 's-two', '2.1')] },
]

/** A shared document shaped as y-prosemirror makes it: paragraphs holding one text each. */
function sharedText(paragraphs: [string, string][]) {
  const doc = new Y.Doc()
  const fragment = doc.getXmlFragment('prosemirror')
  for (const [id, content] of paragraphs) {
    const element = new Y.XmlElement('paragraph')
    fragment.push([element])
    element.setAttribute('id', id)
    const text = new Y.XmlText()
    element.push([text])
    text.insert(0, content)
  }
  const textOf = (id: string) =>
    (fragment.toArray().find((e) => e instanceof Y.XmlElement && e.getAttribute('id') === id) as Y.XmlElement).get(0) as Y.XmlText
  return { doc, fragment, textOf }
}

/** A thread whose anchor carries the relative positions `rangeAnchor` made. */
function liveThread(id: number, fragment: Y.XmlFragment, paragraph: string, start: number, end: number, quote: string): ThreadView {
  const input = rangeAnchor(fragment, paragraph, start, end)
  expect(input.start_position).toBeTruthy()
  return thread(id, rangeView(paragraph, 's-one', start, end, quote, { start_position: input.start_position, end_position: input.end_position }))
}

// --- bodies ---------------------------------------------------------------------------------

describe('bodies as the server checks them', () => {
  it('counts characters, not UTF-16 units, once trimmed', () => {
    expect(bodyLength('  Agreed.\r\n')).toBe(7)
    expect(bodyLength('🌍 ok')).toBe(4)
  })

  it('refuses empty and too long bodies', () => {
    expect(textProblem(' \n\t ', 4000)).toBe('empty')
    expect(textProblem('x'.repeat(4000), 4000)).toBeNull()
    expect(textProblem('x'.repeat(4001), 4000)).toBe('too_long')
    expect(textProblem('é'.repeat(500), 500)).toBeNull()
  })
})

// --- live anchors ---------------------------------------------------------------------------

describe('anchors followed in the shared text', () => {
  const first = 'Local authorities are encouraged to sign agreements.'

  it('makes relative positions that resolve to the words chosen', () => {
    const { doc, fragment } = sharedText([['p-12', first]])
    const t = liveThread(7, fragment, 'p-12', 0, 17, 'Local authorities')
    expect(resolveLive(doc, t.root.anchor!)).toEqual({ block: 'p-12', start: 0, end: 17, text: 'Local authorities', orphaned: false })
  })

  it('keeps the same words when others type before, inside and after them', () => {
    const { doc, fragment, textOf } = sharedText([['p-12', first]])
    const t = liveThread(7, fragment, 'p-12', 6, 17, 'authorities')
    const text = textOf('p-12')
    text.insert(0, 'All ') // before: the range moves
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ start: 10, end: 21, text: 'authorities' })
    text.insert(10, 'the ') // right at its start: stays outside
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ start: 14, end: 25, text: 'authorities' })
    text.insert(25, ' and towns') // right after its end: stays outside
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ text: 'authorities' })
    text.insert(19, '-') // inside: part of it
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ start: 14, end: 26, text: 'autho-rities', orphaned: false })
  })

  it('follows formatting without counting it', () => {
    const { doc, fragment, textOf } = sharedText([['p-12', first]])
    const t = liveThread(7, fragment, 'p-12', 18, 32, 'are encouraged')
    textOf('p-12').format(0, 5, { em: {} })
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ start: 18, end: 32, text: 'are encouraged' })
  })

  it('uses UTF-16 offsets, as the selection and the server do', () => {
    const { doc, fragment } = sharedText([['p-1', '🌍 Earth and sea']])
    const t = liveThread(3, fragment, 'p-1', 3, 8, 'Earth')
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ start: 3, end: 8, text: 'Earth' })
  })

  it('is orphaned when its words or its paragraph are deleted', () => {
    const { doc, fragment, textOf } = sharedText([['p-11', 'Essential activities.'], ['p-12', first]])
    const words = liveThread(1, fragment, 'p-12', 0, 17, 'Local authorities')
    const whole = liveThread(2, fragment, 'p-11', 0, 9, 'Essential')
    textOf('p-12').delete(0, 18)
    expect(resolveLive(doc, words.root.anchor!)).toMatchObject({ orphaned: true, block: 'p-12' })
    fragment.delete(0, 1)
    expect(resolveLive(doc, whole.root.anchor!)).toMatchObject({ orphaned: true })
  })

  it('shrinks when part of its words are deleted', () => {
    const { doc, fragment, textOf } = sharedText([['p-12', first]])
    const t = liveThread(1, fragment, 'p-12', 0, 17, 'Local authorities')
    textOf('p-12').delete(0, 6)
    expect(resolveLive(doc, t.root.anchor!)).toMatchObject({ start: 0, end: 11, text: 'authorities', orphaned: false })
  })

  it('leaves the server’s resolution when it cannot resolve here', () => {
    const { fragment } = sharedText([['p-12', first]])
    const t = liveThread(1, fragment, 'p-12', 0, 5, 'Local')
    const elsewhere = new Y.Doc() // does not hold the items yet (not synced)
    expect(resolveLive(elsewhere, t.root.anchor!)).toBeUndefined()
    expect(resolveLive(elsewhere, sectionAnchor('s-one'))).toBeUndefined()
    expect(resolveLive(elsewhere, rangeView('p-12', 's-one', 0, 5, 'Local'))).toBeUndefined()
    expect(resolveAll(elsewhere, [t]).size).toBe(0)
  })

  it('resolves in another copy of the text once it holds the same items', () => {
    const { doc, fragment, textOf } = sharedText([['p-12', first]])
    const t = liveThread(7, fragment, 'p-12', 6, 17, 'authorities')
    const copy = new Y.Doc()
    expect(resolveLive(copy, t.root.anchor!)).toBeUndefined()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
    expect(resolveLive(copy, t.root.anchor!)).toMatchObject({ block: 'p-12', start: 6, end: 17, text: 'authorities' })
    textOf('p-12').insert(0, 'All ')
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(copy)))
    expect(resolveLive(copy, t.root.anchor!)).toMatchObject({ start: 10, end: 21, text: 'authorities' })
  })

  it('sends offsets when the paragraph is not in the shared text', () => {
    const { fragment } = sharedText([['p-12', first]])
    expect(rangeAnchor(fragment, 'p-99', 2, 5)).toEqual({ paragraph: 'p-99', start: 2, end: 5 })
    expect(rangeAnchor(fragment, 'p-12', 5, 5000)).toEqual({ paragraph: 'p-12', start: 5, end: 5000 })
  })

  it('compares resolutions', () => {
    const a = new Map<number, LiveAnchor>([[1, { block: 'p', start: 0, end: 2, text: 'ab', orphaned: false }]])
    expect(sameLive(a, new Map(a))).toBe(true)
    expect(sameLive(a, new Map([[1, { block: 'p', start: 0, end: 3, text: 'abc', orphaned: false }]]))).toBe(false)
    expect(sameLive(a, new Map())).toBe(false)
  })
})

// --- places and groups ----------------------------------------------------------------------

describe('threads grouped by section, in the order of the text', () => {
  const threads = [
    thread(1, rangeView('p-21', 's-two', 0, 4, 'Empl')),
    thread(2, rangeView('p-12', 's-one', 10, 20, 'later words')),
    thread(3, sectionAnchor('s-one')),
    thread(4, rangeView('p-11', 's-one', 5, 9, 'tial')),
    thread(5, rangeView('p-12', 's-one', 0, 5, 'Local')),
    thread(6, rangeView('p-gone', 's-one', 0, 5, 'Gone', { orphaned: true, text_now: null })),
    thread(7, sectionAnchor('s-pre')),
    thread(8, sectionAnchor('s-removed', true)),
    thread(9, rangeView('p-12', 's-one', 0, 5, 'Local')),
  ]

  it('orders sections as the text, and anchors by section, paragraph, offset, age', () => {
    const groups = groupThreads(placeThreads(threads, SECTIONS, new Map()), SECTIONS)
    expect(groups.map((g) => [g.key, g.threads.map((p) => p.id)])).toEqual([
      ['s-pre', [7]],
      ['s-one', [3, 4, 5, 9, 2]],
      ['s-two', [1]],
      [ORPHANED_GROUP, [6, 8]],
    ])
    expect(groups[1].section?.title).toBe('Keeping value')
    expect(groups[3].orphaned).toBe(true)
  })

  it('gives paragraphs their number in the margin, and the section’s heading as its block', () => {
    const placed = placeThreads(threads, SECTIONS, new Map())
    const byId = new Map(placed.map((p) => [p.id, p]))
    expect(byId.get(5)).toMatchObject({ kind: 'range', block: 'p-12', number: '1.2', section: 's-one', quote: 'Local' })
    expect(byId.get(3)).toMatchObject({ kind: 'section', block: 's-one', section: 's-one' })
    expect(byId.get(7)).toMatchObject({ kind: 'section', block: 's-pre' })
  })

  it('takes the live place over the server’s: moved paragraph, changed words, deleted words', () => {
    const live = new Map<number, LiveAnchor>([
      [1, { block: 'p-12', start: 3, end: 8, text: 'Empl.', orphaned: false }],
      [5, { block: 'p-12', start: 0, end: 0, text: '', orphaned: true }],
    ])
    const placed = placeThreads(threads, SECTIONS, live)
    const byId = new Map(placed.map((p) => [p.id, p]))
    expect(byId.get(1)).toMatchObject({ section: 's-one', number: '1.2', start: 3, end: 8, textNow: 'Empl.', changed: true })
    expect(byId.get(5)).toMatchObject({ orphaned: true, changed: false, textNow: null })
    expect(byId.get(2)).toMatchObject({ changed: false })
  })

  it('places sections not in the text after those that are; a section gone is orphaned', () => {
    const placed = placeThreads([thread(1, rangeView('p-x', 's-new', 0, 1, 'x')), thread(2, sectionAnchor('s-deleted'))], SECTIONS, new Map())
    expect(placed[1].orphaned).toBe(true)
    expect(groupThreads(placed, SECTIONS).map((g) => g.key)).toEqual(['s-new', ORPHANED_GROUP])
  })

  it('keeps the server’s order and groups before the text is known', () => {
    const placed = placeThreads([thread(2, sectionAnchor('s-two')), thread(1, sectionAnchor('s-one'))], [], new Map())
    expect(placed.every((p) => !p.orphaned)).toBe(true)
    expect(groupThreads(placed, []).map((g) => g.key)).toEqual(['s-two', 's-one'])
  })
})

describe('which threads show', () => {
  const open = thread(1, sectionAnchor('s-one'))
  const resolved = thread(2, sectionAnchor('s-one'), { status: 'resolved' })
  const elsewhere = thread(3, sectionAnchor('s-two'))
  const emptied = thread(4, sectionAnchor('s-one'), { deleted: true, body: null }, [comment(40, { parent: 4, deleted: true, body: null })])
  const deletedRootWithReply = thread(5, sectionAnchor('s-one'), { deleted: true, body: null }, [comment(50, { parent: 5 })])
  const gone = thread(6, sectionAnchor('s-one', true))
  const placed = placeThreads([open, resolved, elsewhere, emptied, deletedRootWithReply, gone], SECTIONS, new Map())
  const ids = (filter: { resolved: boolean; section: string | null }) => placed.filter((p) => isShown(p, filter)).map((p) => p.id)

  it('hides resolved threads unless asked, and threads with nothing left to read', () => {
    expect(isEmptyThread(emptied)).toBe(true)
    expect(isEmptyThread(deletedRootWithReply)).toBe(false)
    expect(ids({ resolved: false, section: null })).toEqual([1, 3, 5, 6])
    expect(ids({ resolved: true, section: null })).toEqual([1, 2, 3, 5, 6])
  })

  it('keeps one section’s threads when asked (not the orphaned ones)', () => {
    expect(ids({ resolved: false, section: 's-one' })).toEqual([1, 5])
    expect(ids({ resolved: true, section: 's-two' })).toEqual([3])
  })

  it('counts the open threads', () => {
    expect(openCount(placed)).toBe(4)
    expect(openCount(placed, 's-one')).toBe(2)
  })
})

describe('marks in the text', () => {
  const threads = [
    thread(1, rangeView('p-12', 's-one', 0, 5, 'Local')),
    thread(2, rangeView('p-12', 's-one', 6, 17, 'authorities'), { status: 'resolved' }),
    thread(3, rangeView('p-11', 's-one', 0, 4, 'Gone', { orphaned: true })),
    thread(4, sectionAnchor('s-one')),
    thread(5, rangeView('p-21', 's-two', 0, 4, 'Empl'), { hidden: true, hidden_reason: 'off topic' }),
    thread(6, rangeView('p-21', 's-two', 5, 9, 'oyee'), { deleted: true, body: null }),
    thread(7, rangeView('p-21', 's-two', 0, 9, 'Employees')),
  ]

  it('marks open ranges still in the text, the one in focus apart', () => {
    const placed = placeThreads(threads, SECTIONS, new Map())
    expect(highlightsFor(placed, 7)).toEqual([
      { key: 'comment-1', block: 'p-12', start: 0, end: 5, className: ANCHOR_CLASS },
      { key: 'comment-7', block: 'p-21', start: 0, end: 9, className: `${ANCHOR_CLASS} ${ACTIVE_ANCHOR_CLASS}` },
    ])
  })

  it('replaces only its own marks among the session’s', () => {
    const other = { key: 'amendment-3', block: 'p-11', start: 0, end: 3, className: 'amendment-anchor' }
    const old = { key: 'comment-9', block: 'p-11', start: 1, end: 2, className: ANCHOR_CLASS }
    const mine = { key: 'comment-1', block: 'p-12', start: 0, end: 5, className: ANCHOR_CLASS }
    expect(mergeHighlights([other, old], [mine])).toEqual([other, mine])
    expect(mergeHighlights([old, other], [])).toEqual([other])
  })
})

describe('controls offered', () => {
  const alice = { id: 1, role: 'delegate' as const }
  const bruno = { id: 2, role: 'delegate' as const }
  const secretariat = { id: 9, role: 'secretariat' as const }
  const olga = { id: 3, role: 'observer' as const }
  const mine = comment(10)

  it('lets delegates and the secretariat write while comments are open, never observers', () => {
    expect(canWrite(alice, true)).toBe(true)
    expect(canWrite(secretariat, true)).toBe(true)
    expect(canWrite(alice, false)).toBe(false)
    expect(canWrite(olga, true)).toBe(false)
  })

  it('lets authors edit and delete their own comments while open', () => {
    expect(canEdit(mine, alice, true)).toBe(true)
    expect(canEdit(mine, bruno, true)).toBe(false)
    expect(canEdit(mine, secretariat, true)).toBe(false)
    expect(canEdit(mine, alice, false)).toBe(false)
    expect(canEdit({ ...mine, hidden: true }, alice, true)).toBe(false)
    expect(canDelete({ ...mine, hidden: true }, alice, true)).toBe(true)
    expect(canDelete({ ...mine, deleted: true }, alice, true)).toBe(false)
    expect(canDelete(mine, bruno, true)).toBe(false)
  })

  it('lets the thread’s author or the secretariat resolve and reopen', () => {
    expect(canSetStatus(mine, alice, true)).toBe(true)
    expect(canSetStatus(mine, secretariat, true)).toBe(true)
    expect(canSetStatus(mine, bruno, true)).toBe(false)
    expect(canSetStatus(mine, alice, false)).toBe(false)
  })

  it('lets the secretariat hide in any phase', () => {
    expect(canHide(mine, secretariat)).toBe(true)
    expect(canHide(mine, alice)).toBe(false)
    expect(canHide({ ...mine, deleted: true }, secretariat)).toBe(false)
  })
})

describe('live events applied to the list', () => {
  const alice = { id: 1, role: 'delegate' as const }
  const secretariat = { id: 9, role: 'secretariat' as const }
  const resolvedAnchor = rangeView('p-12', 's-one', 0, 5, 'Local')
  const view: CommentsView = {
    document: 'demo-en',
    comments_open: true,
    threads: [thread(1, resolvedAnchor, {}, [comment(2, { parent: 1, author: { id: 2, name: 'Bruno Keller' } })])],
    open_threads_by_section: { 's-one': 1 },
  }
  // Events carry the stored anchor (positions, no resolution).
  const stored: AnchorView = { kind: 'range', paragraph_id: 'p-12', quote: 'Local', start_position: 'AQID', end_position: 'AQIE', orphaned: false }

  it('adds a new thread and a new reply once', () => {
    const created = comment(3, { anchor: stored })
    const once = applyEvent(view, 'comment.created', created, alice)
    expect(once.threads.map((t) => t.root.id)).toEqual([1, 3])
    expect(applyEvent(once, 'comment.created', created, alice)).toBe(once)
    const reply = comment(4, { parent: 1, thread: 1 })
    expect(applyEvent(view, 'comment.created', reply, alice).threads[0].replies.map((r) => r.id)).toEqual([2, 4])
    expect(applyEvent(view, 'comment.created', comment(5, { parent: 77, thread: 77 }), alice)).toBe(view)
  })

  it('replaces a changed comment, keeping the anchor as resolved', () => {
    const resolved = applyEvent(view, 'comment.resolved', comment(1, { status: 'resolved', anchor: stored }), alice)
    expect(resolved.threads[0].root.status).toBe('resolved')
    expect(resolved.threads[0].root.anchor).toBe(resolvedAnchor)
    const edited = applyEvent(view, 'comment.updated', comment(2, { parent: 1, thread: 1, body: 'new words', edited: true }), alice)
    expect(edited.threads[0].replies[0]).toMatchObject({ body: 'new words', edited: true })
  })

  it('keeps a hidden body for those who may read it, and drops it for the others', () => {
    const hidden = comment(1, { hidden: true, hidden_reason: 'off topic', body: null, anchor: stored })
    expect(applyEvent(view, 'comment.hidden', hidden, secretariat).threads[0].root).toMatchObject({ hidden: true, body: 'comment 1' })
    expect(applyEvent(view, 'comment.hidden', hidden, alice).threads[0].root.body).toBe('comment 1') // her own
    const others = applyEvent(view, 'comment.hidden', { ...comment(2, { parent: 1, thread: 1 }), hidden: true, body: null }, alice)
    expect(others.threads[0].replies[0].body).toBeNull()
  })

  it('ignores events of other documents and unknown comments', () => {
    expect(applyEvent(view, 'comment.created', { ...comment(8), document: 'demo-fr' }, alice)).toBe(view)
    expect(applyEvent(view, 'comment.deleted', comment(99, { deleted: true }), alice)).toBe(view)
  })
})
