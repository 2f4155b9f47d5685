import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { savedCovers } from '../src/document/saved'
import { schema } from '../src/editor/schema'
import { structure, UNTITLED_PREAMBLE } from '../src/editor/structure'
import { documentPath, parse } from '../src/router'

const p = (id: string | null, text: string) => schema.node('paragraph', { id }, text ? [schema.text(text)] : [])
const h = (id: string, kind: string, text: string) => schema.node('heading', { id, kind, level: '1' }, [schema.text(text)])

describe('structure: numbers as the server derives them', () => {
  it('numbers sections and their paragraphs, not the preamble or the closing', () => {
    const doc = schema.node('doc', null, [
      p('p-untitled01', 'Before any heading'),
      h('s-preamble01', 'preamble', 'Preamble'),
      p('p-aaaaaaaaaa', 'Gathered in Geneva'),
      h('s-aaaaaaaaaa', 'numbered', 'Energy'),
      p('p-bbbbbbbbbb', 'One'),
      p('p-cccccccccc', 'Two'),
      h('s-bbbbbbbbbb', 'unknown-kind', 'Work'),
      p(null, 'Not yet named'),
      h('s-cccccccccc', 'closing', 'Call'),
      p('p-dddddddddd', 'We call'),
    ])
    const { blocks, sections } = structure(doc)
    expect(sections.map((s) => [s.id, s.kind, s.number])).toEqual([
      [UNTITLED_PREAMBLE, 'preamble', null],
      ['s-preamble01', 'preamble', null],
      ['s-aaaaaaaaaa', 'numbered', 1],
      ['s-bbbbbbbbbb', 'numbered', 2],
      ['s-cccccccccc', 'closing', null],
    ])
    expect(blocks.filter((b) => b.type === 'paragraph').map((b) => b.number)).toEqual([null, null, '1.1', '1.2', '2.1', null])
    expect(blocks.find((b) => b.text === 'Not yet named')?.section).toBe('s-bbbbbbbbbb')
  })
})

describe('routes', () => {
  it('parses every view and refuses the rest', () => {
    expect(parse('/')).toEqual({ view: 'documents' })
    expect(parse('/documents/demo-en')).toEqual({ view: 'document', id: 'demo-en', tab: 'text' })
    expect(parse('/documents/demo-en/votes')).toEqual({ view: 'document', id: 'demo-en', tab: 'votes' })
    expect(parse('/documents/demo-en/nope')).toEqual({ view: 'not_found' })
    expect(parse('/admin')).toEqual({ view: 'admin', tab: 'members' })
    expect(parse('/admin/audit')).toEqual({ view: 'admin', tab: 'audit' })
    expect(parse('/admin/other')).toEqual({ view: 'not_found' })
    expect(parse('/login')).toEqual({ view: 'login' })
  })

  it('builds document paths that parse back', () => {
    expect(parse(documentPath('a b', 'history'))).toEqual({ view: 'document', id: 'a b', tab: 'history' })
    expect(documentPath('x')).toBe('/documents/x')
  })
})

describe('all changes saved', () => {
  it('holds when the server’s state vector covers every client of ours', () => {
    const mine = new Y.Doc()
    mine.getText('t').insert(0, 'hello')
    const server = new Y.Doc()
    expect(savedCovers(Y.encodeStateVector(server), Y.encodeStateVector(mine))).toBe(false)
    Y.applyUpdate(server, Y.encodeStateAsUpdate(mine))
    expect(savedCovers(Y.encodeStateVector(server), Y.encodeStateVector(mine))).toBe(true)
    mine.getText('t').insert(5, '!')
    expect(savedCovers(Y.encodeStateVector(server), Y.encodeStateVector(mine))).toBe(false)
    // Someone else's edits the server has and we lack do not matter.
    const other = new Y.Doc()
    other.getText('t').insert(0, 'x')
    Y.applyUpdate(server, Y.encodeStateAsUpdate(other))
    Y.applyUpdate(server, Y.encodeStateAsUpdate(mine))
    expect(savedCovers(Y.encodeStateVector(server), Y.encodeStateVector(mine))).toBe(true)
  })

  it('is false for a malformed state vector', () => {
    expect(savedCovers(new Uint8Array([255, 255, 255]), Y.encodeStateVector(new Y.Doc()))).toBe(false)
  })
})
