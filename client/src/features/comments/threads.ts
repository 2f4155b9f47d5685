// The comments panel's logic, free of the DOM: where each thread is in the live text (its
// anchor's Yjs relative positions resolved against the shared document, so the marks follow
// everyone's edits between two loads), how threads are grouped by section and ordered by
// their place in the text, what each person may do, and the body checks the server makes.
import * as Y from 'yjs'
import type { AnchorInput, AnchorView, CommentsView, CommentView, Role, ThreadView } from '../../api/types'
import type { Highlight } from '../../document/session'
import type { SectionInfo } from '../../editor/structure'

/** The server's limits (`server/src/documents/comments.rs`). */
export const MAX_BODY_CHARS = 4000
export const MAX_REASON_CHARS = 500
export const MAX_QUOTE_UNITS = 10_000

/** The class the editor's stylesheet gives comment anchors, and the one of the thread in focus. */
export const ANCHOR_CLASS = 'comment-anchor'
export const ACTIVE_ANCHOR_CLASS = 'comment-anchor-active'
/** Keys of the highlights this panel owns in `session.highlights`. */
export const HIGHLIGHT_PREFIX = 'comment-'

// ---------------------------------------------------------------------------------------------
// Bodies

/** Characters as the server counts them (Unicode scalar values), after its trimming. */
export function bodyLength(text: string): number {
  return [...text.replace(/\r\n/g, '\n').trim()].length
}

/** What is wrong with a body or a reason before sending it, or null. */
export function textProblem(text: string, max: number): 'empty' | 'too_long' | null {
  const length = bodyLength(text)
  if (length === 0) return 'empty'
  if (length > max) return 'too_long'
  return null
}

// ---------------------------------------------------------------------------------------------
// Anchors in the live text

/** A range anchor resolved against the live Yjs document. */
export interface LiveAnchor {
  /** The id of the paragraph its text is in now (null until the server names it). */
  block: string | null
  /** UTF-16 offsets in that paragraph's text. */
  start: number
  end: number
  /** The range's text now. */
  text: string
  /** Its paragraph is gone, or nothing is left between its ends. */
  orphaned: boolean
}

export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** Whether a shared type, or anything it is in, was deleted. */
function removed(type: Y.AbstractType<any>): boolean {
  let item = type._item
  while (item) {
    if (item.deleted) return true
    item = (item.parent as Y.AbstractType<any>)._item
  }
  return false
}

/** A text's characters (formatting attributes are not characters). */
function plainText(text: Y.XmlText): string {
  let out = ''
  for (const op of text.toDelta() as { insert?: unknown }[]) {
    if (typeof op.insert === 'string') out += op.insert
  }
  return out
}

/** The first text of a block, as the server reads a paragraph (`first_text`). */
function firstText(element: Y.XmlElement): Y.XmlText | null {
  for (const child of element.toArray()) if (child instanceof Y.XmlText) return child
  return null
}

/**
 * Resolves a range anchor's relative positions in `doc`; `undefined` when it cannot be done
 * here (no positions, or the document does not hold their items yet): the server's
 * resolution then stands.
 */
export function resolveLive(doc: Y.Doc, anchor: AnchorView, texts = new Map<Y.XmlText, string>()): LiveAnchor | undefined {
  if (anchor.kind !== 'range' || !anchor.start_position || !anchor.end_position) return undefined
  let from: Y.AbsolutePosition | null
  let to: Y.AbsolutePosition | null
  let received: boolean
  try {
    const start = Y.decodeRelativePosition(base64ToBytes(anchor.start_position))
    const end = Y.decodeRelativePosition(base64ToBytes(anchor.end_position))
    // Items this document has not received yet cannot be placed here; received ones that do
    // not resolve were deleted and collected with their paragraph.
    received = [start, end].every((p) => !p.item || Y.getState(doc.store, p.item.client) > p.item.clock)
    from = Y.createAbsolutePositionFromRelativePosition(start, doc)
    to = Y.createAbsolutePositionFromRelativePosition(end, doc)
  } catch {
    return undefined
  }
  if (!received) return undefined
  const gone: LiveAnchor = { block: anchor.paragraph_id ?? null, start: 0, end: 0, text: '', orphaned: true }
  if (!from || !to) return gone
  const type = from.type
  if (type !== to.type || !(type instanceof Y.XmlText) || removed(type)) return gone
  const element = type.parent
  if (!(element instanceof Y.XmlElement) || firstText(element) !== type) return gone
  let content = texts.get(type)
  if (content === undefined) {
    content = plainText(type)
    texts.set(type, content)
  }
  const start = from.index
  const end = Math.min(to.index, content.length)
  if (start >= end) return { ...gone, block: (element.getAttribute('id') as string | undefined) ?? gone.block }
  return {
    block: (element.getAttribute('id') as string | undefined) ?? null,
    start,
    end,
    text: content.slice(start, end),
    orphaned: false,
  }
}

/** Every thread's live anchor, by root id. */
export function resolveAll(doc: Y.Doc, threads: ThreadView[]): Map<number, LiveAnchor> {
  const texts = new Map<Y.XmlText, string>()
  const live = new Map<number, LiveAnchor>()
  for (const thread of threads) {
    const anchor = thread.root.anchor
    if (!anchor) continue
    const resolved = resolveLive(doc, anchor, texts)
    if (resolved) live.set(thread.root.id, resolved)
  }
  return live
}

export function sameLive(a: Map<number, LiveAnchor>, b: Map<number, LiveAnchor>): boolean {
  if (a.size !== b.size) return false
  for (const [id, x] of a) {
    const y = b.get(id)
    if (!y || x.block !== y.block || x.start !== y.start || x.end !== y.end || x.text !== y.text || x.orphaned !== y.orphaned) {
      return false
    }
  }
  return true
}

/** The paragraph with this id in the shared fragment. */
function findBlock(fragment: Y.XmlFragment, id: string): Y.XmlElement | null {
  for (const child of fragment.toArray()) {
    if (child instanceof Y.XmlElement && child.getAttribute('id') === id) return child
  }
  return null
}

/**
 * The anchor of a new thread on a range of a paragraph: Yjs relative positions of its first
 * character (associated after) and of its last (associated before), as the server makes them,
 * so that the words stay the ones chosen whatever others type before the request arrives;
 * the UTF-16 offsets when the paragraph's text cannot be found here.
 */
export function rangeAnchor(fragment: Y.XmlFragment, paragraph: string, start: number, end: number): AnchorInput {
  const element = findBlock(fragment, paragraph)
  const text = element && firstText(element)
  if (text && start < end && end <= text.length) {
    const from = Y.createRelativePositionFromTypeIndex(text, start, 0)
    const to = Y.createRelativePositionFromTypeIndex(text, end, -1)
    return {
      paragraph,
      start_position: bytesToBase64(Y.encodeRelativePosition(from)),
      end_position: bytesToBase64(Y.encodeRelativePosition(to)),
    }
  }
  return { paragraph, start, end }
}

// ---------------------------------------------------------------------------------------------
// Places, groups and order

export interface PlacedThread {
  thread: ThreadView
  id: number
  kind: 'section' | 'range'
  /** The section it belongs to now (null when it cannot be placed). */
  section: string | null
  /** The paragraph of a range; the heading of a section (null for the untitled preamble). */
  block: string | null
  /** Its paragraph's number in the margin ("3.2"), when numbered. */
  number: string | null
  start: number
  end: number
  /** The quote when it was made (ranges). */
  quote: string | null
  /** The range's text now, when known. */
  textNow: string | null
  /** Gone from the text. */
  orphaned: boolean
  /** The words of the range changed since the comment. */
  changed: boolean
  resolved: boolean
}

interface Index {
  sectionOrder: Map<string, number>
  blocks: Map<string, { section: string; order: number; number: string | null }>
}

function indexOf(sections: SectionInfo[]): Index {
  const sectionOrder = new Map<string, number>()
  const blocks = new Map<string, { section: string; order: number; number: string | null }>()
  sections.forEach((section, i) => {
    sectionOrder.set(section.id, i)
    section.paragraphs.forEach((paragraph, j) => {
      if (paragraph.id) blocks.set(paragraph.id, { section: section.id, order: j, number: paragraph.number })
    })
  })
  return { sectionOrder, blocks }
}

/** Where each thread is now: live positions first, else the server's resolution. */
export function placeThreads(threads: ThreadView[], sections: SectionInfo[], live: Map<number, LiveAnchor>): PlacedThread[] {
  const index = indexOf(sections)
  return threads.map((thread) => place(thread, index, live.get(thread.root.id), sections.length > 0))
}

function place(thread: ThreadView, index: Index, live: LiveAnchor | undefined, knowText: boolean): PlacedThread {
  const root = thread.root
  const anchor = root.anchor
  const base = { thread, id: root.id, resolved: root.status === 'resolved' }
  if (!anchor) {
    return { ...base, kind: 'section', section: null, block: null, number: null, start: 0, end: 0, quote: null, textNow: null, orphaned: true, changed: false }
  }
  if (anchor.kind === 'section') {
    const section = anchor.section_id ?? null
    const gone = anchor.orphaned || (knowText && (section === null || !index.sectionOrder.has(section)))
    return {
      ...base,
      kind: 'section',
      section,
      block: section && section !== 's-preamble' ? section : null,
      number: null,
      start: 0,
      end: 0,
      quote: null,
      textNow: null,
      orphaned: gone,
      changed: false,
    }
  }
  const block = live ? live.block : (anchor.paragraph_id ?? null)
  const known = block ? index.blocks.get(block) : undefined
  const orphaned = live ? live.orphaned : anchor.orphaned
  const textNow = live ? (live.orphaned ? null : live.text) : (anchor.text_now ?? null)
  const quote = anchor.quote ?? null
  return {
    ...base,
    kind: 'range',
    section: known?.section ?? anchor.section_id ?? null,
    block,
    number: known?.number ?? null,
    start: live ? live.start : (anchor.start ?? 0),
    end: live ? live.end : (anchor.end ?? 0),
    quote,
    textNow,
    orphaned,
    changed: !orphaned && textNow !== null && quote !== null && textNow !== quote,
  }
}

/** Nothing is left to show: the first comment and every reply were deleted. */
export function isEmptyThread(thread: ThreadView): boolean {
  return thread.root.deleted && thread.replies.every((reply) => reply.deleted)
}

export interface Filter {
  /** Show resolved threads too. */
  resolved: boolean
  /** Only this section's threads (null: every section). */
  section: string | null
}

export function isShown(placed: PlacedThread, filter: Filter): boolean {
  if (isEmptyThread(placed.thread)) return false
  if (placed.resolved && !filter.resolved) return false
  if (filter.section !== null && (placed.orphaned || placed.section !== filter.section)) return false
  return true
}

export interface ThreadGroup {
  /** A section id, or `orphaned` for threads whose text is gone. */
  key: string
  section: SectionInfo | null
  orphaned: boolean
  threads: PlacedThread[]
}

export const ORPHANED_GROUP = 'orphaned'

/**
 * Threads by section, sections in the order of the text, threads in the order of their
 * anchors (the section itself, then its paragraphs, then the offset in the paragraph, then
 * the oldest first); sections not in the text after those that are, threads whose text is
 * gone last.
 */
export function groupThreads(placed: PlacedThread[], sections: SectionInfo[]): ThreadGroup[] {
  const index = indexOf(sections)
  const unknownOrder = new Map<string, number>()
  const groupOrder = (key: string): number => {
    if (key === ORPHANED_GROUP) return Number.MAX_SAFE_INTEGER
    const known = index.sectionOrder.get(key)
    if (known !== undefined) return known
    if (!unknownOrder.has(key)) unknownOrder.set(key, sections.length + unknownOrder.size)
    return unknownOrder.get(key)!
  }
  const groups = new Map<string, ThreadGroup>()
  for (const item of placed) {
    const key = item.orphaned || item.section === null ? ORPHANED_GROUP : item.section
    let group = groups.get(key)
    if (!group) {
      groupOrder(key) // sections not in the text keep the order they first appear in
      group = {
        key,
        section: sections.find((s) => s.id === key) ?? null,
        orphaned: key === ORPHANED_GROUP,
        threads: [],
      }
      groups.set(key, group)
    }
    group.threads.push(item)
  }
  const position = (item: PlacedThread): [number, number, number] => {
    if (item.kind === 'section') return [-1, 0, item.id]
    const block = item.block ? index.blocks.get(item.block) : undefined
    return [block ? block.order : Number.MAX_SAFE_INTEGER, item.start, item.id]
  }
  const ordered = [...groups.values()].sort((a, b) => groupOrder(a.key) - groupOrder(b.key))
  for (const group of ordered) {
    if (group.orphaned) {
      group.threads.sort((a, b) => a.id - b.id)
      continue
    }
    group.threads.sort((a, b) => {
      const [x, y] = [position(a), position(b)]
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
    })
  }
  return ordered
}

/** The anchors to mark in the text: open ranges still in it, whose first comment is shown. */
export function highlightsFor(placed: PlacedThread[], active: number | null): Highlight[] {
  const out: Highlight[] = []
  for (const item of placed) {
    const root = item.thread.root
    if (item.kind !== 'range' || item.orphaned || item.resolved || !item.block || item.end <= item.start) continue
    if (root.deleted || root.hidden) continue
    out.push({
      key: `${HIGHLIGHT_PREFIX}${item.id}`,
      block: item.block,
      start: item.start,
      end: item.end,
      className: item.id === active ? `${ANCHOR_CLASS} ${ACTIVE_ANCHOR_CLASS}` : ANCHOR_CLASS,
    })
  }
  return out
}

/** `current` with this panel's highlights replaced by `mine` (others' are kept). */
export function mergeHighlights(current: Highlight[], mine: Highlight[]): Highlight[] {
  return [...current.filter((h) => !h.key.startsWith(HIGHLIGHT_PREFIX)), ...mine]
}

export function sameHighlights(a: Highlight[], b: Highlight[]): boolean {
  return (
    a.length === b.length &&
    a.every((h, i) => h.key === b[i].key && h.block === b[i].block && h.start === b[i].start && h.end === b[i].end && h.className === b[i].className)
  )
}

// ---------------------------------------------------------------------------------------------
// Who may do what (the server decides; these only choose which controls to offer)

export interface Viewer {
  id: number
  role: Role
}

/** Write new comments and replies. */
export function canWrite(viewer: Viewer, open: boolean): boolean {
  return open && viewer.role !== 'observer'
}

export function canEdit(comment: CommentView, viewer: Viewer, open: boolean): boolean {
  return canWrite(viewer, open) && comment.author.id === viewer.id && !comment.deleted && !comment.hidden
}

export function canDelete(comment: CommentView, viewer: Viewer, open: boolean): boolean {
  return canWrite(viewer, open) && comment.author.id === viewer.id && !comment.deleted
}

/** Resolve or reopen a thread: its author or the secretariat. */
export function canSetStatus(root: CommentView, viewer: Viewer, open: boolean): boolean {
  return canWrite(viewer, open) && (root.author.id === viewer.id || viewer.role === 'secretariat')
}

/** Hide (or give another reason): the secretariat, in any phase. */
export function canHide(comment: CommentView, viewer: Viewer): boolean {
  return viewer.role === 'secretariat' && !comment.deleted
}

/** Open threads in this list (not resolved, not orphaned, not empty). */
export function openCount(placed: PlacedThread[], section: string | null = null): number {
  return placed.filter((p) => !p.resolved && isShown(p, { resolved: false, section })).length
}

// ---------------------------------------------------------------------------------------------
// Live events

/**
 * The list with one comment event applied (`comment.created`, `.updated`, `.resolved`,
 * `.reopened`, `.deleted`, `.hidden`), so that it shows at once; the reload that follows
 * brings the resolved anchors, the counts and what only some may read. Events carry the
 * comment as every member sees it: a hidden body the viewer may read is kept.
 */
export function applyEvent(view: CommentsView, kind: string, comment: CommentView, viewer: Viewer): CommentsView {
  if (!comment || typeof comment.id !== 'number' || comment.document !== view.document) return view
  const known = (c: CommentView) => c.id === comment.id
  const exists = view.threads.some((t) => known(t.root) || t.replies.some(known))
  if (kind === 'comment.created') {
    if (exists) return view
    if (comment.parent == null) return { ...view, threads: [...view.threads, { root: comment, replies: [] }] }
    if (!view.threads.some((t) => t.root.id === comment.thread)) return view
    return {
      ...view,
      threads: view.threads.map((t) => (t.root.id === comment.thread ? { ...t, replies: [...t.replies, comment] } : t)),
    }
  }
  if (!exists) return view
  const merge = (old: CommentView): CommentView => {
    const mayRead = viewer.role === 'secretariat' || old.author.id === viewer.id
    const keepBody = comment.body == null && !comment.deleted && comment.hidden && mayRead
    return {
      ...comment,
      body: keepBody ? old.body : comment.body,
      revisions: keepBody ? old.revisions : comment.revisions,
      // Events carry the stored anchor, not its resolution in the text: keep the one read.
      anchor: old.anchor ?? comment.anchor,
    }
  }
  return {
    ...view,
    threads: view.threads.map((t) =>
      known(t.root) ? { ...t, root: merge(t.root) } : t.replies.some(known) ? { ...t, replies: t.replies.map((r) => (known(r) ? merge(r) : r)) } : t,
    ),
  }
}
