// The editor's schema: exactly the structure the server reads (ARCHITECTURE.md, "Text
// structure"): a flat list of headings and paragraphs, each with its stable `id`, headings
// with their `kind` and `level`, and the marks `em` and `strong`. y-prosemirror removes from the
// shared document every attribute the schema lacks, so these must all be declared.
import { Schema, type Node as PMNode } from 'prosemirror-model'

export type SectionKind = 'preamble' | 'numbered' | 'closing'

export const schema = new Schema({
  nodes: {
    // Paragraph first: it is the block Enter creates after a heading.
    doc: { content: '(paragraph | heading)+' },
    paragraph: {
      content: 'text*',
      marks: '_',
      attrs: { id: { default: null } },
      parseDOM: [{ tag: 'p', getAttrs: (dom) => ({ id: (dom as HTMLElement).getAttribute('data-id') }) }],
      toDOM: (node) => ['p', { 'data-id': node.attrs.id ?? undefined }, 0],
    },
    heading: {
      content: 'text*',
      marks: '_',
      defining: true,
      attrs: { id: { default: null }, kind: { default: 'numbered' }, level: { default: '1' } },
      parseDOM: [
        {
          tag: 'h2',
          getAttrs: (dom) => ({
            id: (dom as HTMLElement).getAttribute('data-id'),
            kind: (dom as HTMLElement).getAttribute('data-kind') ?? 'numbered',
            level: '1',
          }),
        },
      ],
      toDOM: (node) => ['h2', { 'data-id': node.attrs.id ?? undefined, 'data-kind': node.attrs.kind }, 0],
    },
    text: {},
  },
  marks: {
    em: {
      parseDOM: [{ tag: 'em' }, { tag: 'i' }, { style: 'font-style=italic' }],
      toDOM: () => ['em', 0],
    },
    strong: {
      parseDOM: [{ tag: 'strong' }, { tag: 'b' }, { style: 'font-weight', getAttrs: (v) => /^(bold|[6-9]\d\d)$/.test(v as string) && null }],
      toDOM: () => ['strong', 0],
    },
  },
})

export function headingKind(node: PMNode): SectionKind {
  const kind = node.attrs.kind
  return kind === 'preamble' || kind === 'closing' ? kind : 'numbered'
}
