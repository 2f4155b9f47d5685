// Comparing two versions of the text: the server's `ManuscriptDiff` lists only what differs
// (paragraphs and sections, matched by id: added, removed, changed, moved, moved and
// changed); this lays it over the newer text so that each change is read in its place, with
// removed paragraphs and sections shown where they stood. Pure.
import type { DiffOp, ManuscriptDiff, Paragraph, Section } from '../../api/types'

type ParagraphChange = ManuscriptDiff['paragraphs'][number]
type SectionChange = ManuscriptDiff['sections'][number]
type RichText = Paragraph['text']

export interface CompareItem {
  id: string
  /** The number to show: the new one, or the old one for a removed paragraph. */
  number: string | null
  /** The text to show when there is no word diff (unchanged, formatting only). */
  text: RichText | null
  change: ParagraphChange | null
}

export interface CompareSection {
  id: string
  number: number | null
  kind: Section['kind']
  heading: RichText
  change: SectionChange | null
  items: CompareItem[]
}

/** The sections of `newer`, each change of `diff` in its place, removed blocks where they were. */
export function layOut(older: Section[], newer: Section[], diff: ManuscriptDiff): CompareSection[] {
  const paragraphChanges = new Map(diff.paragraphs.map((c) => [c.id, c]))
  const sectionChanges = new Map(diff.sections.map((c) => [c.id, c]))

  const sections: CompareSection[] = newer.map((section) => ({
    id: section.id,
    number: section.number ?? null,
    kind: section.kind,
    heading: section.heading,
    change: sectionChanges.get(section.id) ?? null,
    items: section.paragraphs.map((p) => ({
      id: p.id,
      number: p.number ?? null,
      text: p.text,
      change: paragraphChanges.get(p.id) ?? null,
    })),
  }))

  // Removed sections go after the nearest earlier section of the old text that is still there.
  const newIds = new Set(newer.map((s) => s.id))
  older.forEach((section, index) => {
    if (newIds.has(section.id)) return
    const view: CompareSection = {
      id: section.id,
      number: section.number ?? null,
      kind: section.kind,
      heading: section.heading,
      change: sectionChanges.get(section.id) ?? removedSection(section),
      items: [],
    }
    let at = 0
    for (let i = index - 1; i >= 0; i--) {
      const position = sections.findIndex((s) => s.id === older[i].id)
      if (position >= 0) {
        at = position + 1
        // After any removed sections already placed behind it.
        while (at < sections.length && !newIds.has(sections[at].id)) at++
        break
      }
    }
    sections.splice(at, 0, view)
  })

  // Removed paragraphs go into their old section, after the last paragraph shown there that
  // stood before them in the old text.
  const oldOrder = new Map<string, number>()
  const oldSectionOf = new Map<string, Section>()
  let position = 0
  for (const section of older) {
    for (const p of section.paragraphs) {
      oldOrder.set(p.id, position++)
      oldSectionOf.set(p.id, section)
    }
  }
  const newParagraphs = new Set(newer.flatMap((s) => s.paragraphs.map((p) => p.id)))
  for (const section of older) {
    for (const p of section.paragraphs) {
      if (newParagraphs.has(p.id)) continue
      const change = paragraphChanges.get(p.id) ?? removedParagraph(p, section.id)
      const item: CompareItem = { id: p.id, number: p.number ?? null, text: p.text, change }
      const home = sections.find((s) => s.id === (change.old_section_id ?? section.id)) ?? sections[sections.length - 1]
      if (!home) continue
      const mine = oldOrder.get(p.id) ?? 0
      let at = 0
      home.items.forEach((other, i) => {
        const theirs = oldOrder.get(other.id)
        if (theirs !== undefined && theirs < mine) at = i + 1
      })
      home.items.splice(at, 0, item)
    }
  }
  return sections
}

function removedParagraph(p: Paragraph, sectionId: string): ParagraphChange {
  return {
    id: p.id,
    change: 'removed',
    diff: [],
    formatting_only: false,
    section_id: sectionId,
    old_section_id: sectionId,
    old_number: p.number ?? null,
    new_number: null,
    old_text: p.text,
    new_text: null,
  }
}

function removedSection(s: Section): SectionChange {
  return {
    id: s.id,
    change: 'removed',
    diff: [],
    formatting_only: false,
    old_heading: s.heading,
    new_heading: null,
    old_kind: s.kind,
    new_kind: null,
    old_number: s.number ?? null,
    new_number: null,
  }
}

/** Only what changed: sections with a change of their own or a changed paragraph. */
export function onlyChanges(sections: CompareSection[]): CompareSection[] {
  return sections
    .map((s) => ({ ...s, items: s.items.filter((item) => item.change !== null) }))
    .filter((s) => s.change !== null || s.items.length > 0)
}

/** The pieces of a word diff to draw, merging neighbours of the same kind. */
export function diffPieces(ops: DiffOp[]): DiffOp[] {
  const pieces: DiffOp[] = []
  for (const op of ops) {
    if (op.text === '') continue
    const last = pieces[pieces.length - 1]
    if (last && last.kind === op.kind) last.text += op.text
    else pieces.push({ kind: op.kind, text: op.text })
  }
  return pieces
}

/** Plain text of rich text. */
export function plain(text: RichText | null | undefined): string {
  return (text ?? []).map((span) => span.text).join('')
}
