// Pure helpers of the amendments, votes and queue views: word diffs (the preview of a proposal
// before it is tabled; the server gives the diff of tabled ones), keeping the formatting of the
// words a replacement leaves untouched, filters, competing groups and French typography.
import type { AmendmentStatus, AmendmentView, DiffKind, DiffOp, Span } from '../../api/types'

// ---------------------------------------------------------------------------------------------
// Word diff

/** Words, runs of white space and single other characters, as the server cuts texts. */
export function tokenize(text: string): string[] {
  return text.match(/[\p{L}\p{N}\p{M}_]+|\s+|[^\p{L}\p{N}\p{M}_\s]/gu) ?? []
}

/** Above this many edits the middle of the diff is shown as one deletion and one insertion. */
const MAX_EDITS = 1500

/**
 * Myers' shortest edit script between two token lists, one op per token, after the common
 * prefix and suffix are set aside.
 */
export function diffTokens(a: string[], b: string[]): { kind: DiffKind; text: string }[] {
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let endA = a.length
  let endB = b.length
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--
    endB--
  }
  const head = a.slice(0, start).map((text) => ({ kind: 'equal' as const, text }))
  const tail = a.slice(endA).map((text) => ({ kind: 'equal' as const, text }))
  return [...head, ...middle(a.slice(start, endA), b.slice(start, endB)), ...tail]
}

function middle(a: string[], b: string[]): { kind: DiffKind; text: string }[] {
  const n = a.length
  const m = b.length
  const bulk = () => [
    ...a.map((text) => ({ kind: 'delete' as const, text })),
    ...b.map((text) => ({ kind: 'insert' as const, text })),
  ]
  if (n === 0 || m === 0) return bulk()
  const max = n + m
  const offset = max + 1
  const v = new Int32Array(2 * max + 3)
  // trace[d] holds v for k in [-d-1, d+1] as it was before step d.
  const trace: Int32Array[] = []
  let found = false
  for (let d = 0; d <= Math.min(max, MAX_EDITS) && !found; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2))
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1
      let y = x - k
      while (x < n && y < m && a[x] === b[y]) {
        x++
        y++
      }
      v[offset + k] = x
      if (x >= n && y >= m) {
        found = true
        break
      }
    }
  }
  if (!found) return bulk()
  const ops: { kind: DiffKind; text: string }[] = []
  let x = n
  let y = m
  for (let d = trace.length - 1; d >= 0; d--) {
    const at = (k: number) => trace[d][k + d + 1]
    const k = x - y
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1
    const prevX = d === 0 ? 0 : at(prevK)
    const prevY = prevX - prevK
    while (x > prevX && y > prevY) {
      ops.push({ kind: 'equal', text: a[x - 1] })
      x--
      y--
    }
    if (d > 0) {
      if (x === prevX) ops.push({ kind: 'insert', text: b[prevY] })
      else ops.push({ kind: 'delete', text: a[prevX] })
    }
    x = prevX
    y = prevY
  }
  return ops.reverse()
}

/**
 * Readable runs: neighbours of the same kind joined; white space alone between two changes
 * folded into them, and in each change the deletion shown before the insertion
 * ("<del>the big</del><ins>a small</ins> cat" rather than word by word).
 */
export function tidyDiff(ops: readonly DiffOp[]): DiffOp[] {
  const pieces = ops.filter((op) => op.text !== '')
  const out: DiffOp[] = []
  let deleted = ''
  let inserted = ''
  const flush = () => {
    if (deleted) out.push({ kind: 'delete', text: deleted })
    if (inserted) out.push({ kind: 'insert', text: inserted })
    deleted = ''
    inserted = ''
  }
  for (let i = 0; i < pieces.length; i++) {
    const op = pieces[i]
    if (op.kind === 'delete') deleted += op.text
    else if (op.kind === 'insert') inserted += op.text
    else {
      const inChange = deleted !== '' || inserted !== ''
      const next = pieces[i + 1]
      if (inChange && /^\s+$/.test(op.text) && next && next.kind !== 'equal') {
        deleted += op.text
        inserted += op.text
        continue
      }
      flush()
      const last = out[out.length - 1]
      if (last?.kind === 'equal') last.text += op.text
      else out.push({ kind: 'equal', text: op.text })
    }
  }
  flush()
  return out
}

/** The word diff from `from` to `to`, ready to show. */
export function wordDiff(from: string, to: string): DiffOp[] {
  return tidyDiff(diffTokens(tokenize(from), tokenize(to)))
}

// ---------------------------------------------------------------------------------------------
// Rich text

export function plainText(spans: readonly Span[] | null | undefined): string {
  return (spans ?? []).map((span) => span.text).join('')
}

/** A proposal is one paragraph: line breaks (and other control characters) become spaces. */
export function oneParagraph(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/ *[\u0000-\u001f\u007f-\u009f]+ */g, ' ').trim()
}

const EM = 1
const STRONG = 2

/**
 * The spans of `text` when it replaces `original`: the words kept keep their emphasis, new
 * words take the marks both their neighbours share (so a word typed inside an italic phrase is
 * italic too).
 */
export function respan(original: readonly Span[], text: string): Span[] {
  const bits: number[] = []
  for (const span of original) {
    const value = (span.em ? EM : 0) | (span.strong ? STRONG : 0)
    for (let i = 0; i < span.text.length; i++) bits.push(value)
  }
  const out: number[] = []
  let i = 0
  for (const op of diffTokens(tokenize(plainText(original)), tokenize(text))) {
    if (op.kind === 'equal') {
      for (let j = 0; j < op.text.length; j++) out.push(bits[i + j])
      i += op.text.length
    } else if (op.kind === 'delete') i += op.text.length
    else {
      const before = out.length > 0 ? out[out.length - 1] : 0
      const after = i < bits.length ? bits[i] : 0
      for (let j = 0; j < op.text.length; j++) out.push(before & after)
    }
  }
  const spans: Span[] = []
  let from = 0
  for (let j = 1; j <= text.length; j++) {
    if (j === text.length || out[j] !== out[from]) {
      spans.push({ text: text.slice(from, j), em: (out[from] & EM) !== 0, strong: (out[from] & STRONG) !== 0 })
      from = j
    }
  }
  return spans
}

/** The start of `text`, cut at a word boundary, with an ellipsis when cut. */
export function excerpt(text: string, max = 70): string {
  const clean = text.replace(/\s+/g, ' ').trim()
  if (clean.length <= max) return clean
  const cut = clean.slice(0, max)
  const space = cut.lastIndexOf(' ')
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.]+$/, '')}…`
}

// ---------------------------------------------------------------------------------------------
// Lists

export const STATUSES: AmendmentStatus[] = [
  'submitted',
  'to_vote',
  'adopted',
  'accepted',
  'rejected',
  'fallen',
  'void',
  'inadmissible',
  'withdrawn',
]

export function isPending(status: AmendmentStatus): boolean {
  return status === 'submitted' || status === 'to_vote'
}

export interface Filters {
  /** Section id, or '' for all. */
  section: string
  status: AmendmentStatus | ''
  /** Author id as text, or '' for all. */
  author: string
}

export function filterAmendments(list: readonly AmendmentView[], filters: Filters): AmendmentView[] {
  return list.filter(
    (a) =>
      (!filters.section || a.section_id === filters.section) &&
      (!filters.status || a.status === filters.status) &&
      (!filters.author || String(a.author.id) === filters.author),
  )
}

/** The authors of `list`, each once, by name. */
export function authorsOf(list: readonly AmendmentView[]): { id: number; name: string }[] {
  const seen = new Map<number, string>()
  for (const a of list) seen.set(a.author.id, a.author.name)
  return [...seen].map(([id, name]) => ({ id, name })).sort((x, y) => x.name.localeCompare(y.name))
}

/**
 * Targets with two or more pending amendments, each with them in the proposed voting order
 * (the server's `vote_rank`, then by number): what the secretariat may reorder. The server
 * wants every pending amendment on the target in the order it is given.
 */
export function competingGroups(list: readonly AmendmentView[]): { target: string; amendments: AmendmentView[] }[] {
  const groups = new Map<string, AmendmentView[]>()
  for (const a of list) {
    if (!isPending(a.status)) continue
    const group = groups.get(a.target) ?? []
    group.push(a)
    groups.set(a.target, group)
  }
  const rank = (a: AmendmentView) => a.vote_rank ?? Number.MAX_SAFE_INTEGER
  return [...groups]
    .filter(([, group]) => group.length > 1 && group.some((a) => a.competing.length > 0))
    .map(([target, group]) => ({ target, amendments: [...group].sort((x, y) => rank(x) - rank(y) || x.id - y.id) }))
}

/** `items` with the one at `from` moved to `to`. */
export function moveItem<T>(items: readonly T[], from: number, to: number): T[] {
  const copy = [...items]
  if (from < 0 || from >= copy.length || to < 0 || to >= copy.length) return copy
  const [item] = copy.splice(from, 1)
  copy.splice(to, 0, item)
  return copy
}

// ---------------------------------------------------------------------------------------------
// Typography

/**
 * French typography for a catalog: a no-break space inside « » and before a colon, a narrow
 * one before ; ! and ?, so the translations can be written with ordinary spaces.
 */
export function typo<T extends Record<string, string>>(catalog: T): T {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(catalog)) {
    out[key] = value
      .replace(/« /g, '«\u00a0')
      .replace(/ »/g, '\u00a0»')
      .replace(/ :/g, '\u00a0:')
      .replace(/ ([;!?])/g, '\u202f$1')
  }
  return out as T
}
