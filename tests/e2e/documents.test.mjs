// The secretariat creates documents from the documents list: from the template, and by
// importing a Markdown file; each opens in the editor with its numbers in the margin.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { api, paragraph, useApp } from './harness.mjs'

const app = useApp(['alice'])

const DRAFT = `---
title: Lisbon Declaration on cooperative housing
language: en
---

# Preamble

*Meeting* in Lisbon, we declare:

# 1. Land

Land for housing should be held in common.

Cooperatives should have first access to public land.

# 2. Finance

Public banks should lend to housing cooperatives at cost.
`

test('the secretariat imports a Markdown draft and creates one from the template', async (t) => {
  const { page } = await app.loggedIn(t, 'admin')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'manifesto-draft-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'lisbon.md')
  fs.writeFileSync(file, DRAFT)

  const form = page.locator('form', { has: page.getByRole('heading', { name: 'Create a document' }) })
  await form.getByLabel('a Markdown file', { exact: true }).check()
  await form.getByLabel('Markdown file', { exact: true }).setInputFiles(file)
  await form.getByRole('button', { name: 'Create' }).click()
  await page.waitForURL(/\/documents\/[^/]+$/)
  await page.getByRole('heading', { level: 1, name: 'Lisbon Declaration on cooperative housing' }).waitFor()
  await paragraph(page, '1.2').filter({ hasText: 'Cooperatives should have first access' }).waitFor({ timeout: 5000 })
  await paragraph(page, '2.1').filter({ hasText: 'Public banks' }).waitFor()
  assert.equal(await page.locator('.manuscript em', { hasText: 'Meeting' }).count(), 1)

  // From the template, in French: back on the list, then in the editor.
  await page.getByRole('link', { name: 'Documents' }).click()
  await form.getByLabel('Title').fill('Déclaration de test')
  await form.getByLabel('Language of the text').selectOption('fr')
  await form.getByLabel(/the template/).check()
  await form.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('heading', { level: 1, name: 'Déclaration de test' }).waitFor()
  await paragraph(page, '1.1').waitFor({ timeout: 5000 })
  const id = new URL(page.url()).pathname.split('/').pop()
  const created = (await api(app.server, 'GET', `/api/documents/${id}`, { cookie: app.admin, expect: 200 })).body
  assert.equal(created.metadata.language, 'fr', JSON.stringify(created.metadata))

  // A delegate sees both in the list, with their phase; no creation form for them.
  const alice = await app.loggedIn(t, 'alice')
  for (const title of ['Lisbon Declaration on cooperative housing', 'Déclaration de test']) {
    const link = alice.page.getByRole('link', { name: title })
    await link.waitFor()
    assert.equal(await alice.page.locator('tr', { has: link }).locator('.phase').innerText(), 'Drafting', title)
  }
  assert.equal(await alice.page.getByRole('heading', { name: 'Create a document' }).count(), 0)
})
