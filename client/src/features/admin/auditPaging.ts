// Paging the audit log newest first. The API (`GET /api/audit?after=&limit=`) reads oldest
// first from a sequence number, and sequence numbers run 1, 2, 3… without gaps; so once the
// last one is known, any page is one request. The last one is found by asking whether an
// entry exists after a number, doubling then halving (about 2·log₂ n small requests).
import type { AuditEntry } from '../../api/types'

/**
 * The highest sequence number, given `exists(after)`: whether any entry has a sequence number
 * greater than `after`. 0 for an empty log.
 */
export async function findLastSeq(exists: (after: number) => Promise<boolean>, hint = 0): Promise<number> {
  // `low` is known to exist (or 0), `high` known not to.
  let low = 0
  let high: number
  if (hint > 0 && (await exists(hint - 1))) low = hint
  let step = 64
  for (;;) {
    const probe = low + step
    if (await exists(probe - 1)) {
      low = probe
      step *= 2
    } else {
      high = probe
      break
    }
  }
  // Invariant: entry `low` exists (or low = 0), entry `high` does not.
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2)
    if (await exists(mid - 1)) low = mid
    else high = mid
  }
  return low
}

/** Page `page` (0 = newest) of `size` entries of a log whose last entry is `last`. */
export function pageRange(last: number, page: number, size: number): { after: number; limit: number } | null {
  const top = last - page * size
  if (top <= 0) return null
  const after = Math.max(0, top - size)
  return { after, limit: top - after }
}

export function pageCount(last: number, size: number): number {
  return Math.max(1, Math.ceil(last / size))
}

/** The family of an action, for the filter: `login.failed` → `login`. */
export function actionFamily(action: string): string {
  return action.split('.')[0] ?? action
}

/** Whether `entry` matches a free-text search over its actor, action, target and details. */
export function matches(entry: AuditEntry, search: string, family: string): boolean {
  if (family && actionFamily(entry.action) !== family) return false
  const words = search.trim().toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length === 0) return true
  const haystack = [
    entry.action,
    entry.actor.label,
    entry.actor.address ?? '',
    entry.actor.user_id != null ? `user:${entry.actor.user_id}` : '',
    entry.target ?? '',
    JSON.stringify(entry.details ?? {}),
  ]
    .join(' ')
    .toLowerCase()
  return words.every((word) => haystack.includes(word))
}

/**
 * Entries (oldest first) whose `prev_hash` is not the hash of the entry before them in the
 * list: where the chain looks broken within what was read.
 */
export function chainBreaks(entries: AuditEntry[]): Set<number> {
  const broken = new Set<number>()
  for (let i = 1; i < entries.length; i++) {
    const before = entries[i - 1]
    const entry = entries[i]
    if (entry.seq === before.seq + 1 && entry.prev_hash !== before.hash) broken.add(entry.seq)
  }
  return broken
}

/** A details object as `key: value` pairs, values as short text. */
export function detailPairs(details: unknown): [string, string][] {
  if (!details || typeof details !== 'object' || Array.isArray(details)) return []
  return Object.entries(details as Record<string, unknown>)
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)])
}
