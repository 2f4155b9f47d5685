// The pure logic of the amendments, votes and queue views: word diffs, keeping formatting,
// filters and competing groups, French typography, the live structure read from Yjs, and
// ballot rules and outcomes in words.
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import type { AmendmentView, DiffOp, Outcome } from '../src/api/types'
import { liveTextOf, paragraphsOf, readFragment } from '../src/features/amendments/liveText'
import {
  competingGroups,
  diffTokens,
  excerpt,
  filterAmendments,
  moveItem,
  oneParagraph,
  respan,
  tidyDiff,
  tokenize,
  typo,
  wordDiff,
} from '../src/features/amendments/text'
import {
  absoluteNeeded,
  ballotQuestion,
  countsText,
  eligibleCount,
  outcomeSentence,
  quorumNeeded,
  ruleSentences,
} from '../src/features/votes/rules'
import { lang } from '../src/i18n'

const side = (ops: readonly DiffOp[], kind: 'delete' | 'insert') =>
  ops.filter((op) => op.kind === 'equal' || op.kind === kind).map((op) => op.text).join('')

describe('tokenize', () => {
  it('cuts words, white space runs and single punctuation marks', () => {
    expect(tokenize('Food, water  and l’énergie!')).toEqual(['Food', ',', ' ', 'water', '  ', 'and', ' ', 'l', '’', 'énergie', '!'])
  })
})

describe('word diff', () => {
  it('rebuilds both texts and finds the shortest change', () => {
    const cases: [string, string][] = [
      ['the big cat sat', 'the small cat sat'],
      ['a b c d e f', 'a c d x f'],
      ['', 'new words'],
      ['old words', ''],
      ['same text', 'same text'],
      ['Essential activities should be organised', 'Essential public activities must be organised locally'],
    ]
    for (const [from, to] of cases) {
      const ops = diffTokens(tokenize(from), tokenize(to))
      expect(side(ops, 'delete')).toBe(from)
      expect(side(ops, 'insert')).toBe(to)
    }
    const ops = diffTokens(tokenize('a b c d e f'), tokenize('a c d x f'))
    const changed = ops.filter((op) => op.kind !== 'equal').map((op) => `${op.kind}:${op.text}`)
    expect(changed).toEqual(['delete:b', 'delete: ', 'delete:e', 'insert:x'])
  })

  it('keeps the common start and end outside the change', () => {
    expect(wordDiff('the big cat sat', 'the small cat sat')).toEqual([
      { kind: 'equal', text: 'the ' },
      { kind: 'delete', text: 'big' },
      { kind: 'insert', text: 'small' },
      { kind: 'equal', text: ' cat sat' },
    ])
  })

  it('folds white space between two changes into one readable change', () => {
    expect(wordDiff('the big cat', 'a small cat')).toEqual([
      { kind: 'delete', text: 'the big' },
      { kind: 'insert', text: 'a small' },
      { kind: 'equal', text: ' cat' },
    ])
  })

  it('tidies the server’s runs too: joins neighbours, drops empty pieces', () => {
    expect(
      tidyDiff([
        { kind: 'equal', text: 'a' },
        { kind: 'equal', text: ' ' },
        { kind: 'insert', text: 'b' },
        { kind: 'insert', text: '' },
        { kind: 'insert', text: 'c' },
      ]),
    ).toEqual([
      { kind: 'equal', text: 'a ' },
      { kind: 'insert', text: 'bc' },
    ])
  })

  it('falls back to one deletion and one insertion for texts with nothing in common', () => {
    const from = Array.from({ length: 2000 }, (_, i) => `a${i}`).join(' ')
    const to = Array.from({ length: 2000 }, (_, i) => `b${i}`).join(' ')
    const ops = wordDiff(from, to)
    expect(side(ops, 'delete')).toBe(from)
    expect(side(ops, 'insert')).toBe(to)
  })
})

describe('respan', () => {
  it('keeps the emphasis of the words kept; new words take the marks around them', () => {
    const original = [
      { text: 'Gathered', em: true, strong: false },
      { text: ' in Geneva at the invitation', em: false, strong: false },
    ]
    expect(respan(original, 'Gathered in Paris at the invitation')).toEqual([
      { text: 'Gathered', em: true, strong: false },
      { text: ' in Paris at the invitation', em: false, strong: false },
    ])
    const italic = [{ text: 'very long phrase', em: true, strong: false }]
    expect(respan(italic, 'very very long phrase')).toEqual([{ text: 'very very long phrase', em: true, strong: false }])
    expect(respan([], 'new')).toEqual([{ text: 'new', em: false, strong: false }])
    expect(respan(original, '')).toEqual([])
  })
})

describe('small text helpers', () => {
  it('makes one paragraph of a proposal', () => {
    expect(oneParagraph('  First line\nsecond\r\n\tthird  ')).toBe('First line second third')
    expect(oneParagraph('Kept  as  typed')).toBe('Kept  as  typed')
  })
  it('cuts excerpts at a word', () => {
    expect(excerpt('short')).toBe('short')
    expect(excerpt('Essential activities — care, housing, food, energy, mobility — should be organised', 40)).toBe(
      'Essential activities — care, housing…',
    )
  })
  it('writes French typography', () => {
    expect(typo({ a: 'Phase : « Vote » ; oui ?' }).a).toBe('Phase\u00a0: «\u00a0Vote\u00a0»\u202f; oui\u202f?')
  })
  it('moves an item in a list', () => {
    expect(moveItem([1, 2, 3], 2, 0)).toEqual([3, 1, 2])
    expect(moveItem([1, 2, 3], 0, 5)).toEqual([1, 2, 3])
  })
})

function amendment(over: Partial<AmendmentView>): AmendmentView {
  return {
    id: 1,
    label: 'A1',
    kind: 'replace',
    target: 'p-aaaaaaaaaa',
    target_number: '1.1',
    section_id: 's-aaaaaaaaaa',
    target_exists: true,
    text: [{ text: 'New', em: false, strong: false }],
    paragraphs: [],
    rationale: 'Because',
    author: { id: 7, name: 'Alice' },
    supporters: [],
    status: 'submitted',
    history: [],
    written_against: 1,
    outdated: false,
    diff: [],
    distance: 1,
    competing: [],
    editable: true,
    created_at: '2026-01-29T10:00:00Z',
    ...over,
  } as AmendmentView
}

describe('lists of amendments', () => {
  const list = [
    amendment({ id: 1, label: 'A1', competing: [2], vote_rank: 2 }),
    amendment({ id: 2, label: 'A2', author: { id: 8, name: 'Bruno' }, competing: [1], vote_rank: 1, status: 'to_vote' }),
    amendment({ id: 3, label: 'A3', kind: 'insert_after', competing: [], vote_rank: null }),
    amendment({ id: 4, label: 'A4', target: 'p-bbbbbbbbbb', section_id: 's-bbbbbbbbbb', status: 'withdrawn' }),
    amendment({ id: 5, label: 'A5', target: 'p-bbbbbbbbbb', section_id: 's-bbbbbbbbbb' }),
  ]

  it('filters by section, status and author together', () => {
    expect(filterAmendments(list, { section: 's-bbbbbbbbbb', status: '', author: '' }).map((a) => a.id)).toEqual([4, 5])
    expect(filterAmendments(list, { section: '', status: 'to_vote', author: '' }).map((a) => a.id)).toEqual([2])
    expect(filterAmendments(list, { section: 's-aaaaaaaaaa', status: 'submitted', author: '7' }).map((a) => a.id)).toEqual([1, 3])
  })

  it('groups every pending amendment of a contested target, in the proposed voting order', () => {
    const groups = competingGroups(list)
    expect(groups.map((g) => [g.target, g.amendments.map((a) => a.id)])).toEqual([['p-aaaaaaaaaa', [2, 1, 3]]])
  })
})

describe('the live structure read from the shared text', () => {
  it('numbers paragraphs and keeps their emphasis, as the editor would', () => {
    const doc = new Y.Doc()
    const fragment = doc.getXmlFragment('prosemirror')
    const heading = new Y.XmlElement('heading')
    heading.setAttribute('id', 's-aaaaaaaaaa')
    heading.setAttribute('kind', 'numbered')
    heading.insert(0, [new Y.XmlText('Energy')])
    const paragraph = new Y.XmlElement('paragraph')
    paragraph.setAttribute('id', 'p-aaaaaaaaaa')
    const text = new Y.XmlText()
    paragraph.insert(0, [text])
    const stray = new Y.XmlElement('image')
    fragment.insert(0, [heading, paragraph, stray])
    text.insert(0, 'Power ', { strong: {} })
    text.insert(6, 'to the people', { 'em--abcd1234': {} })
    const live = liveTextOf(readFragment(fragment))
    expect(live.sections.map((s) => [s.id, s.number, s.title])).toEqual([['s-aaaaaaaaaa', 1, 'Energy']])
    expect(paragraphsOf(live.sections).map((p) => [p.id, p.number, p.text])).toEqual([['p-aaaaaaaaaa', '1.1', 'Power to the people']])
    expect(live.spans.get('p-aaaaaaaaaa')).toEqual([
      { text: 'Power ', em: false, strong: true },
      { text: 'to the people', em: true, strong: false },
    ])
  })
})

describe('ballot rules in words', () => {
  afterEach(() => {
    lang.value = 'en'
  })

  it('counts a quorum and an absolute majority as the server does', () => {
    expect(quorumNeeded(0.3, 10)).toBe(3)
    expect(quorumNeeded(0.5, 7)).toBe(4)
    expect(quorumNeeded(1, 100)).toBe(100)
    expect(absoluteNeeded(10)).toBe(6)
    expect(absoluteNeeded(7)).toBe(4)
  })

  it('states the rules in English and French', () => {
    lang.value = 'en'
    const rules = { majority: 'absolute', quorum: 0.5, visibility: 'secret', results: 'hidden' } as const
    const en = ruleSentences(rules, 7)
    expect(en[0]).toBe('Adopted if more than half of the 7 eligible voters vote yes: at least 4 yes.')
    expect(en[1]).toContain('at least 4 of the 7 eligible voters (50%)')
    expect(en[2]).toContain('Secret ballot')
    lang.value = 'fr'
    const fr = ruleSentences({ majority: 'simple', visibility: 'roll_call' }, 10)
    expect(fr[0]).toContain('l’égalité vaut rejet')
    expect(fr[1]).toBe('Aucun quorum n’est requis.')
    expect(fr[2]).toContain('appel nominal')
    expect(fr[3]).toContain('à la clôture')
  })

  it('states outcomes with their counts', () => {
    const outcome: Outcome = { result: 'adopted', yes: 2, no: 0, abstain: 1, n_eligible: 3, n_voted: 3, rule: '', text: '' }
    lang.value = 'en'
    expect(outcomeSentence(outcome)).toBe('Adopted: 2 yes, 0 no, 1 abstention.')
    expect(countsText({ yes: 1, no: 2, abstain: 2 })).toBe('1 yes, 2 no, 2 abstentions')
    expect(outcomeSentence({ ...outcome, result: 'void', n_voted: 1, quorum_required: 2 })).toBe(
      'Void: the quorum was not reached (1 took part, 2 needed).',
    )
    lang.value = 'fr'
    expect(outcomeSentence({ ...outcome, result: 'rejected', abstain: 0 })).toBe('Rejeté\u00a0: 2 pour, 0 contre, 0 abstention.')
  })

  it('translates the server’s usual questions, never the secretariat’s own', () => {
    lang.value = 'fr'
    expect(ballotQuestion({ question: 'Adopt amendment 3?', subject: { kind: 'amendment', amendment: 3 } })).toBe('Adopter l’amendement A3\u202f?')
    expect(ballotQuestion({ question: 'Adopt the Manifesto as a whole?', subject: { kind: 'final_text' } })).toBe(
      'Adopter le Manifeste dans son ensemble\u202f?',
    )
    expect(ballotQuestion({ question: 'Adopt amendment 4?', subject: { kind: 'amendment', amendment: 3 } })).toBe('Adopt amendment 4?')
  })

  it('counts who a new ballot calls to vote', () => {
    const members = [
      { role: 'delegate', active: true },
      { role: 'delegate', active: false },
      { role: 'observer', active: true },
      { role: 'secretariat', active: true },
    ] as const
    expect(eligibleCount(members, false)).toBe(1)
    expect(eligibleCount(members, true)).toBe(2)
  })
})
