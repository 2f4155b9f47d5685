// The Manifesto's structure as the server derives it (`server/src/text/read.rs`): sections
// opened by headings, numbered sections 1, 2, 3…, their paragraphs 3.1, 3.2…, preamble and
// closing paragraphs unnumbered, paragraphs before any heading in an untitled preamble
// (`s-preamble`). Numbers are never stored: the margin shows these.
import type { Node as PMNode } from 'prosemirror-model'
import { headingKind, type SectionKind } from './schema'

export const UNTITLED_PREAMBLE = 's-preamble'

export interface BlockInfo {
  /** Position of the block in the ProseMirror document. */
  pos: number
  /** Its id, or null until the server gives it one. */
  id: string | null
  type: 'heading' | 'paragraph'
  /** "3" for a numbered heading, "3.2" for its second paragraph, null when unnumbered. */
  number: string | null
  /** The id of the section it belongs to. */
  section: string
  text: string
}

export interface SectionInfo {
  id: string
  kind: SectionKind
  number: number | null
  title: string
  pos: number
  paragraphs: BlockInfo[]
}

export function structure(doc: PMNode): { blocks: BlockInfo[]; sections: SectionInfo[] } {
  const blocks: BlockInfo[] = []
  const sections: SectionInfo[] = []
  let current: SectionInfo | null = null
  let numbered = 0
  doc.forEach((node, pos) => {
    if (node.type.name === 'heading') {
      const kind = headingKind(node)
      const number = kind === 'numbered' ? ++numbered : null
      current = {
        id: node.attrs.id ?? `pending-${pos}`,
        kind,
        number,
        title: node.textContent,
        pos,
        paragraphs: [],
      }
      sections.push(current)
      blocks.push({ pos, id: node.attrs.id, type: 'heading', number: number === null ? null : String(number), section: current.id, text: node.textContent })
    } else if (node.type.name === 'paragraph') {
      if (!current) {
        current = { id: UNTITLED_PREAMBLE, kind: 'preamble', number: null, title: '', pos, paragraphs: [] }
        sections.push(current)
      }
      const section: SectionInfo = current
      const number = section.number === null ? null : `${section.number}.${section.paragraphs.length + 1}`
      const block: BlockInfo = { pos, id: node.attrs.id, type: 'paragraph', number, section: section.id, text: node.textContent }
      section.paragraphs.push(block)
      blocks.push(block)
    }
  })
  return { blocks, sections }
}
