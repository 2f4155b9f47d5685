// The members page's pasted-list parser, the audit log's paging, and the history's comparison
// layout.
import { describe, expect, it } from 'vitest'
import type { AuditEntry, ManuscriptDiff, Section } from '../src/api/types'
import { isPlausibleEmail, parseInvitationList, parseRole, splitColumns } from '../src/features/admin/invitationList'
import { chainBreaks, detailPairs, findLastSeq, matches, pageCount, pageRange } from '../src/features/admin/auditPaging'
import { diffPieces, layOut, onlyChanges } from '../src/features/history/compare'

describe('pasted invitation list', () => {
  it('reads comma, semicolon, tab and space separated lines, in English and French', () => {
    const lines = parseInvitationList(
      [
        'ana@example.org, delegate',
        'Bruno@Example.org;observateur;Bruno Keller;IPU;Switzerland',
        'chen@example.org\tSecrétariat\tChen Li',
        'dora@example.org délégué·e',
        '  ',
        '# a comment',
        'eve@example.org, Observers',
      ].join('\n'),
    )
    expect(lines.map((l) => [l.line, l.email, l.role, l.name, l.organisation, l.country, l.problems])).toEqual([
      [1, 'ana@example.org', 'delegate', null, null, null, []],
      [2, 'bruno@example.org', 'observer', 'Bruno Keller', 'IPU', 'Switzerland', []],
      [3, 'chen@example.org', 'secretariat', 'Chen Li', null, null, []],
      [4, 'dora@example.org', 'delegate', null, null, null, []],
      [7, 'eve@example.org', 'observer', null, null, null, []],
    ])
  })

  it('reports each bad line with what is wrong, and keeps the good ones', () => {
    const lines = parseInvitationList(
      ['ana@example.org, delegate', 'not an email, delegate', 'bob@example.org, president', 'ANA@example.org, observer', ', delegate', 'x@y.org, delegate, ' + 'n'.repeat(101)].join(
        '\r\n',
      ),
    )
    expect(lines.map((l) => [l.line, l.problems])).toEqual([
      [1, []],
      [2, ['bad_email']],
      [3, ['bad_role']],
      [4, ['duplicate']],
      [5, ['no_email']],
      [6, ['name_too_long']],
    ])
  })

  it('gives lines without a role the default one, or reports them when there is none', () => {
    expect(parseInvitationList('ana@example.org', 'observer')[0]).toMatchObject({ role: 'observer', problems: [] })
    expect(parseInvitationList('ana@example.org,', null)[0]).toMatchObject({ role: null, problems: ['no_role'] })
  })

  it('skips a first line of column titles, and reads "Name <email>"', () => {
    const lines = parseInvitationList('Email,Role,Name\n"Ana Lima" <ana@example.org>, delegate')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ line: 2, email: 'ana@example.org', name: 'Ana Lima', problems: [] })
  })

  it('refuses extra columns', () => {
    expect(parseInvitationList('a@b.org, delegate, A, B, C, D')[0].problems).toEqual(['too_many_columns'])
  })

  it('checks emails as the server does', () => {
    expect(isPlausibleEmail('ana@example.org')).toBe(true)
    expect(isPlausibleEmail('ana@localhost')).toBe(true)
    for (const bad of ['ana', '@example.org', 'ana@', 'ana@.org', 'ana@org.', 'a@b@c', 'an a@b.org', `${'a'.repeat(250)}@b.org`]) {
      expect(isPlausibleEmail(bad), bad).toBe(false)
    }
  })

  it('knows roles as people write them', () => {
    expect(parseRole('Délégués')).toBe('delegate')
    expect(parseRole('observateur·rice')).toBe('observer')
    expect(parseRole('SECRETARIAT')).toBe('secretariat')
    expect(parseRole('chair')).toBeNull()
    expect(splitColumns('a@b.org\tdelegate, with comma')).toEqual(['a@b.org', 'delegate, with comma'])
    expect(splitColumns('a@b.org  delegate')).toEqual(['a@b.org', 'delegate'])
    expect(splitColumns('not an email')).toEqual(['not an email'])
    expect(parseInvitationList('not an email')[0]).toMatchObject({ email: 'not an email', problems: ['bad_email', 'no_role'] })
  })
})

function entry(seq: number, prev: string, hash: string, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    seq,
    at: 1_800_000_000 + seq,
    action: 'login.succeeded',
    actor: { label: 'ana@example.org', user_id: 2, address: '10.0.0.1' },
    target: null,
    details: {} as AuditEntry['details'],
    prev_hash: prev,
    hash,
    ...extra,
  }
}

describe('audit log paging', () => {
  for (const last of [0, 1, 2, 63, 64, 65, 100, 1000, 12_345]) {
    it(`finds the last entry of a log of ${last}`, async () => {
      let calls = 0
      const found = await findLastSeq(async (after) => {
        calls++
        return after < last
      })
      expect(found).toBe(last)
      expect(calls).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(last + 2)) + 8)
    })
  }

  it('starts from a hint', async () => {
    expect(await findLastSeq(async (after) => after < 500, 480)).toBe(500)
    // A hint beyond the end (not possible with an append-only log, but harmless).
    expect(await findLastSeq(async (after) => after < 10, 480)).toBe(10)
  })

  it('pages newest first', () => {
    expect(pageRange(250, 0, 100)).toEqual({ after: 150, limit: 100 })
    expect(pageRange(250, 1, 100)).toEqual({ after: 50, limit: 100 })
    expect(pageRange(250, 2, 100)).toEqual({ after: 0, limit: 50 })
    expect(pageRange(250, 3, 100)).toBeNull()
    expect(pageCount(250, 100)).toBe(3)
    expect(pageCount(0, 100)).toBe(1)
  })

  it('filters by family and words', () => {
    const e = entry(1, 'g', 'h1', { action: 'user.role_changed', target: 'user:7', details: { from: 'delegate', to: 'observer' } as never })
    expect(matches(e, '', '')).toBe(true)
    expect(matches(e, '', 'user')).toBe(true)
    expect(matches(e, '', 'login')).toBe(false)
    expect(matches(e, 'OBSERVER user:7', '')).toBe(true)
    expect(matches(e, 'observer bruno', '')).toBe(false)
    expect(detailPairs(e.details)).toEqual([
      ['from', 'delegate'],
      ['to', 'observer'],
    ])
  })

  it('flags a break in the hash chain', () => {
    const list = [entry(1, 'g', 'h1'), entry(2, 'h1', 'h2'), entry(3, 'hX', 'h3'), entry(5, 'h4', 'h5')]
    expect([...chainBreaks(list)]).toEqual([3])
  })
})

const span = (text: string) => [{ text, em: false, strong: false }]
const para = (id: string, number: string | null, text: string) => ({ id, number, text: span(text) })
const section = (id: string, number: number | null, heading: string, paragraphs: ReturnType<typeof para>[]): Section => ({
  id,
  number,
  kind: number === null ? 'preamble' : 'numbered',
  heading: span(heading),
  paragraphs,
})

describe('comparing two versions', () => {
  const older: Section[] = [
    section('s-a', 1, 'Energy', [para('p-1', '1.1', 'One'), para('p-2', '1.2', 'Two'), para('p-3', '1.3', 'Three')]),
    section('s-b', 2, 'Water', [para('p-4', '2.1', 'Four')]),
    section('s-c', 3, 'Work', [para('p-5', '3.1', 'Five')]),
  ]
  const newer: Section[] = [
    section('s-a', 1, 'Energy', [para('p-1', '1.1', 'One more'), para('p-3', '1.2', 'Three'), para('p-new', '1.3', 'New')]),
    section('s-c', 2, 'Work', [para('p-5', '2.1', 'Five'), para('p-4', '2.2', 'Four')]),
  ]
  const diff: ManuscriptDiff = {
    summary: { added: 1, removed: 1, changed: 1, moved: 1 },
    section_summary: { added: 0, removed: 1, changed: 0, moved: 0 },
    sections: [
      { id: 's-b', change: 'removed', diff: [], formatting_only: false, old_number: 2, new_number: null, old_heading: span('Water'), new_heading: null },
    ],
    paragraphs: [
      {
        id: 'p-1',
        change: 'changed',
        diff: [
          { kind: 'equal', text: 'One' },
          { kind: 'insert', text: ' ' },
          { kind: 'insert', text: 'more' },
        ],
        formatting_only: false,
        section_id: 's-a',
        old_section_id: 's-a',
        old_number: '1.1',
        new_number: '1.1',
      },
      { id: 'p-2', change: 'removed', diff: [{ kind: 'delete', text: 'Two' }], formatting_only: false, section_id: 's-a', old_section_id: 's-a', old_number: '1.2' },
      { id: 'p-new', change: 'added', diff: [{ kind: 'insert', text: 'New' }], formatting_only: false, section_id: 's-a', new_number: '1.3' },
      { id: 'p-4', change: 'moved', diff: [], formatting_only: false, section_id: 's-c', old_section_id: 's-b', old_number: '2.1', new_number: '2.2' },
    ],
  }

  it('puts removed paragraphs and sections where they stood', () => {
    const sections = layOut(older, newer, diff)
    expect(sections.map((s) => [s.id, s.change?.change ?? null, s.items.map((i) => `${i.id}:${i.change?.change ?? '='}`)])).toEqual([
      ['s-a', null, ['p-1:changed', 'p-2:removed', 'p-3:=', 'p-new:added']],
      ['s-b', 'removed', []],
      ['s-c', null, ['p-5:=', 'p-4:moved']],
    ])
    expect(sections[0].items[1].number).toBe('1.2')
  })

  it('shows only what changed when asked', () => {
    const only = onlyChanges(layOut(older, newer, diff))
    expect(only.map((s) => [s.id, s.items.map((i) => i.id)])).toEqual([
      ['s-a', ['p-1', 'p-2', 'p-new']],
      ['s-b', []],
      ['s-c', ['p-4']],
    ])
  })

  it('merges neighbouring pieces of a word diff', () => {
    expect(
      diffPieces([
        { kind: 'equal', text: 'One' },
        { kind: 'insert', text: ' ' },
        { kind: 'insert', text: 'more' },
        { kind: 'delete', text: '' },
      ]),
    ).toEqual([
      { kind: 'equal', text: 'One' },
      { kind: 'insert', text: ' more' },
    ])
  })
})
