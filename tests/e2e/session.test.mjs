// An ended session (here: logged out from elsewhere) asks to log in again over the page; the
// text typed meanwhile is kept and reaches the server once logged in. A 429 shows a wait.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PEOPLE, api, caretAtStart, openDocument, paragraph, screenshot, storedText, useApp, waitFor } from './harness.mjs'

const app = useApp(['alice'])

test('an ended session asks to log in again and keeps what was typed', async (t) => {
  const alice = await app.loggedIn(t, 'alice')
  await openDocument(alice.page, app.server, 'demo-en')
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 5000 })

  // Her session ends elsewhere (the same cookie logged out): the live connection closes.
  const cookie = (await alice.context.cookies()).find((c) => c.name === 'manifesto_session')
  await api(app.server, 'DELETE', '/api/session', { cookie: `${cookie.name}=${cookie.value}`, expect: 204 })

  await caretAtStart(alice.page, '3.1')
  await alice.page.keyboard.type('Typed after the session ended. ')
  const dialog = alice.page.getByRole('dialog', { name: 'Your session has ended' })
  await dialog.waitFor({ timeout: 20000 })
  await screenshot(alice.page, 'session-ended')
  const before = await storedText(app.server, 'demo-en')
  assert.ok(![...before.paragraphs.values()].some((t) => t.includes('Typed after the session ended.')))

  await dialog.getByLabel('Email').fill(PEOPLE.alice.email)
  await dialog.getByLabel('Password').fill(PEOPLE.alice.password)
  await dialog.getByRole('button', { name: 'Log in' }).click()
  await dialog.waitFor({ state: 'detached', timeout: 5000 })
  // Still on the document, with the words typed meanwhile, now saved on the server.
  assert.match(alice.page.url(), /\/documents\/demo-en$/)
  await paragraph(alice.page, '3.1').filter({ hasText: 'Typed after the session ended.' }).waitFor()
  await waitFor(async () => {
    const { paragraphs } = await storedText(app.server, 'demo-en')
    return [...paragraphs.values()].some((t) => t.startsWith('Typed after the session ended. '))
  }, 15000, 'the edit typed while logged out reaches the server after logging in again')
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
})

test('too many failed logins show how long to wait', async (t) => {
  const { page } = await app.anonymous(t)
  await page.goto(`${app.server.origin}/login`)
  await page.getByLabel('Email').fill(PEOPLE.alice.email)
  let limited = false
  for (let i = 0; i < 30 && !limited; i++) {
    await page.getByLabel('Password').fill(`wrong password ${i}`)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('.error[role=alert]').waitFor()
    limited = await page.getByText(/wait .* before trying again/).isVisible()
  }
  assert.ok(limited, 'the wait message appeared')
  assert.match(await page.locator('.error[role=alert]').textContent(), /Too many attempts/)
})
