// The secretariat adopts the Manifesto and exports the PDF from the Manage tab: the download
// is a valid PDF, and poppler's pdftotext finds every paragraph of the adopted text in it,
// an edit made before adoption included.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { api, caretAtStart, openDocument, screenshot, storedText, useApp, waitFor } from './harness.mjs'

const app = useApp([])

/** Letters and digits only, lower case: what survives any line breaking and spacing. */
const letters = (text) => [...text.normalize('NFC')].filter((c) => /[\p{L}\p{N}]/u.test(c)).join('').toLowerCase()

const ADDED = 'Adopted in plenary by the delegates of the forum.'

test('the secretariat adopts the text and exports a PDF of it', async (t) => {
  const { page } = await app.loggedIn(t, 'admin')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifesto-export-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  // A last edit while drafting, so that the adopted text differs from the demo draft.
  await openDocument(page, app.server, 'demo-en')
  await caretAtStart(page, '1.1')
  await page.keyboard.type(`${ADDED} `)
  await page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
  await waitFor(async () => [...(await storedText(app.server, 'demo-en')).paragraphs.values()].some((p) => p.startsWith(ADDED)), 5000, 'the edit stored')

  // Adoption through the Manage tab. The server lets the secretariat move a document
  // forward to any later phase (server/src/documents/phase.rs): no final ballot is needed
  // to reach Adopted this way (a final ballot that passes adopts it by itself).
  await page.getByRole('link', { name: 'Manage', exact: true }).click()
  await page.waitForURL(`${app.server.origin}/documents/demo-en/manage`)
  await page.getByLabel(/^Move to/).selectOption('adopted')
  await page.getByRole('button', { name: 'Change the phase' }).click()
  await page.locator('#main').getByText('The document is now in the Adopted phase.').waitFor({ timeout: 5000 })
  await page.locator('.doc-header .phase-adopted').waitFor({ timeout: 5000 })
  const record = (await api(app.server, 'GET', '/api/documents/demo-en', { cookie: app.admin, expect: 200 })).body
  assert.equal(record.phase, 'adopted')
  assert.equal(record.text_open, false)

  const adopted = await storedText(app.server, 'demo-en')
  const versions = (await api(app.server, 'GET', '/api/documents/demo-en/versions', { cookie: app.admin, expect: 200 })).body
  const adoption = versions.at(-1)
  assert.equal(adoption.phase, 'adopted')
  // The adoption took a named version: the text the export shows by default.
  const named = (await api(app.server, 'GET', `/api/documents/demo-en/text?version=${adoption.number}`, { cookie: app.admin, expect: 200 })).body
  const namedParagraphs = named.sections.flatMap((s) => s.paragraphs.map((p) => p.text.map((span) => span.text).join('')))
  assert.deepEqual(namedParagraphs, [...adopted.paragraphs.values()])
  await screenshot(page, 'manage')

  // The PDF link downloads the adopted text.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.getByRole('link', { name: 'PDF', exact: true }).click()])
  assert.equal(download.suggestedFilename(), 'demo-en-adopted.pdf')
  const file = path.join(dir, 'adopted.pdf')
  await download.saveAs(file)
  const bytes = fs.readFileSync(file)
  assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-', 'not a PDF')
  assert.ok(bytes.length > 1000, `a PDF of ${bytes.length} bytes`)

  const extracted = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' })
  const flat = letters(extracted)
  const paragraphs = [...adopted.paragraphs.values()].filter((p) => p.trim() !== '')
  assert.ok(paragraphs.length >= 15, `${paragraphs.length} paragraphs`)
  const missing = paragraphs.filter((p) => !flat.includes(letters(p)))
  assert.deepEqual(missing, [], `paragraphs missing from the PDF; pdftotext gave:\n${extracted.slice(0, 3000)}`)
  assert.ok(flat.includes(letters(ADDED)), 'the edit made before adoption is in the PDF')
  assert.ok(flat.includes(letters(adopted.view.metadata.title ?? '')), 'the title is in the PDF')
})
