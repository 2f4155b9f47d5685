// The secretariat pastes a list of people to invite, one a line: an email and a role, then
// optionally a name, an organisation and a country, separated by tabs (a spreadsheet's
// columns), semicolons or commas, e.g. `ana@example.org, delegate, Ana Lima, IPU, Brazil`.
// This reads it into invitations and says what is wrong with each line, before anything is
// sent. Pure: no I/O, no translation (the view words the problems).
import type { Role } from '../../api/types'

export const ROLES: Role[] = ['delegate', 'observer', 'secretariat']

/** What can be wrong with a line. */
export type LineProblem =
  | 'no_email'
  | 'bad_email'
  | 'bad_role'
  | 'no_role'
  | 'duplicate'
  | 'name_too_long'
  | 'organisation_too_long'
  | 'country_too_long'
  | 'too_many_columns'

export interface ListLine {
  /** 1-based line number in what was pasted. */
  line: number
  /** The line as pasted (trimmed). */
  raw: string
  /** Lower-cased and trimmed, as the server stores it. */
  email: string
  role: Role | null
  name: string | null
  organisation: string | null
  country: string | null
  problems: LineProblem[]
}

// The server's limits (server/src/api/members.rs, auth/accounts.rs).
const MAX_EMAIL_BYTES = 254
const MAX_NAME = 100
const MAX_ORGANISATION = 200
const MAX_COUNTRY = 64

/** The server's own test of an email address (`is_plausible_email`), on a normalised one. */
export function isPlausibleEmail(email: string): boolean {
  const at = email.indexOf('@')
  if (at < 0) return false
  const local = email.slice(0, at)
  const domain = email.slice(at + 1)
  return (
    new TextEncoder().encode(email).length <= MAX_EMAIL_BYTES &&
    local.length > 0 &&
    domain.length > 0 &&
    !domain.includes('@') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    // Whitespace or control characters anywhere.
    !/[\s\p{Cc}]/u.test(email)
  )
}

/** Email as the server keeps it: trimmed, lower case. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase()
}

/** A role from how people write it, in English or French; null if unknown. */
export function parseRole(text: string): Role | null {
  const word = text
    .trim()
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    // délégué·e, observateur·rice, délégué(e), délégué.e
    .replace(/[·.(].*$/, '')
    .replace(/s$/, '')
  switch (word) {
    case 'delegate':
    case 'delegue':
    case 'deleguee':
    case 'member':
    case 'membre':
      return 'delegate'
    case 'observer':
    case 'observateur':
    case 'observatrice':
      return 'observer'
    case 'secretariat':
    case 'secretary':
    case 'secretaire':
    case 'admin':
      return 'secretariat'
    default:
      return null
  }
}

/** Splits one line into its columns: by tabs if it has any, else semicolons, else commas. */
export function splitColumns(line: string): string[] {
  const separator = line.includes('\t') ? '\t' : line.includes(';') ? ';' : line.includes(',') ? ',' : null
  if (separator) return line.split(separator).map((cell) => cell.trim())
  // `ana@example.org delegate`: an email then a role, separated by spaces; anything else is
  // one cell (and, if it is not an email, reported as such).
  const words = line.trim().split(/\s+/)
  return words.length === 2 ? words : [line.trim()]
}

/** A first line of column titles ("email, role…", "Adresse; rôle…"), to skip. */
function isHeader(cells: string[]): boolean {
  const first = cells[0]
    ?.toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
  return !!first && !first.includes('@') && /^(e-?mail|email address|courriel|adresse( electronique)?|mail)$/.test(first)
}

const optional = (cell: string | undefined) => {
  const value = cell?.trim() ?? ''
  return value === '' ? null : value
}

/**
 * Reads a pasted list. Blank lines, lines starting with `#` and a first line of column
 * titles are skipped. A line without a role gets `defaultRole` (or the problem `no_role` when
 * there is none). A second line for the same email is a `duplicate`.
 */
export function parseInvitationList(text: string, defaultRole: Role | null = null): ListLine[] {
  const result: ListLine[] = []
  const seen = new Set<string>()
  const lines = text.split(/\r\n|\r|\n/)
  let firstContent = true
  lines.forEach((rawLine, index) => {
    const raw = rawLine.trim()
    if (raw === '' || raw.startsWith('#')) return
    const cells = splitColumns(raw)
    if (firstContent) {
      firstContent = false
      if (isHeader(cells)) return
    }
    const problems: LineProblem[] = []
    // `Ana Lima <ana@example.org>` as some mail programs copy addresses.
    const bracketed = /<([^<>]+)>/.exec(cells[0] ?? '')
    const email = normaliseEmail(bracketed ? bracketed[1] : (cells[0] ?? ''))
    if (email === '') problems.push('no_email')
    else if (!isPlausibleEmail(email)) problems.push('bad_email')
    else if (seen.has(email)) problems.push('duplicate')
    else seen.add(email)

    let role: Role | null = null
    const roleCell = optional(cells[1])
    if (roleCell === null) {
      role = defaultRole
      if (role === null) problems.push('no_role')
    } else {
      role = parseRole(roleCell)
      if (role === null) problems.push('bad_role')
    }
    const nameFromBrackets = bracketed ? optional(cells[0].slice(0, bracketed.index).replace(/["']/g, '')) : null
    const name = optional(cells[2]) ?? nameFromBrackets
    const organisation = optional(cells[3])
    const country = optional(cells[4])
    if (name && [...name].length > MAX_NAME) problems.push('name_too_long')
    if (organisation && [...organisation].length > MAX_ORGANISATION) problems.push('organisation_too_long')
    if (country && [...country].length > MAX_COUNTRY) problems.push('country_too_long')
    if (cells.length > 5 && cells.slice(5).some((cell) => cell !== '')) problems.push('too_many_columns')
    result.push({ line: index + 1, raw, email, role, name, organisation, country, problems })
  })
  return result
}
