// Two delegates in two browsers type into the same paragraph: each sees the other's words
// and the other's named cursor, and the server stores both.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { caretAtStart, openDocument, paragraph, screenshot, storedText, useApp, waitFor } from './harness.mjs'

const app = useApp(['alice', 'bruno'])

test('two delegates co-write one paragraph and see each other’s cursor', async (t) => {
  const alice = await app.loggedIn(t, 'alice')
  const bruno = await app.loggedIn(t, 'bruno')
  await openDocument(alice.page, app.server, 'demo-en')
  await openDocument(bruno.page, app.server, 'demo-en')
  const original = await paragraph(alice.page, '1.1').textContent()

  await caretAtStart(alice.page, '1.1')
  await alice.page.keyboard.type('Alice adds this. ')
  await paragraph(bruno.page, '1.1').filter({ hasText: 'Alice adds this.' }).waitFor({ timeout: 5000 })

  // Bruno sees Alice's caret, labelled with her name, inside the paragraph.
  const label = bruno.page.locator('.manuscript .remote-cursor-label', { hasText: 'Alice Martin' })
  await label.waitFor({ timeout: 5000 })
  assert.equal(await paragraph(bruno.page, '1.1').locator('.remote-cursor-label', { hasText: 'Alice Martin' }).count(), 1)

  await caretAtStart(bruno.page, '1.1')
  await bruno.page.keyboard.type('Bruno too. ')
  await paragraph(alice.page, '1.1').filter({ hasText: 'Bruno too.' }).waitFor({ timeout: 5000 })
  await alice.page.locator('.manuscript .remote-cursor-label', { hasText: 'Bruno Keller' }).waitFor({ timeout: 5000 })

  // Both browsers show the same paragraph, which holds both additions and the original text.
  const plain = (page) => paragraph(page, '1.1').evaluate((p) => {
    const copy = p.cloneNode(true)
    copy.querySelectorAll('.remote-cursor, .ProseMirror-yjs-cursor').forEach((c) => c.remove())
    return copy.textContent
  })
  await waitFor(async () => (await plain(alice.page)) === (await plain(bruno.page)), 5000, 'the same text in both browsers')
  const text = await plain(alice.page)
  assert.ok(text.includes('Alice adds this.') && text.includes('Bruno too.'), text)
  assert.ok(text.endsWith(original.trim()), `${text} / ${original}`)

  // Who is here lists both; the server has stored the paragraph as they see it.
  for (const name of ['Alice Martin', 'Bruno Keller']) await alice.page.locator('.presence li', { hasText: name }).waitFor()
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 5000 })
  await waitFor(async () => {
    const { paragraphs } = await storedText(app.server, 'demo-en')
    return [...paragraphs.values()].includes(text)
  }, 5000, 'the server stores what both browsers show')
  await screenshot(alice.page, 'editor-coediting')
})
