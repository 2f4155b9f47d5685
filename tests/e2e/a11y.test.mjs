// The axe-core audit of each view: no serious or critical violation on the login page, the
// invitation page (a real link), the documents list, the document's text, amendments, votes,
// history (a version, a comparison, a paragraph's history), management, the queue, the
// members page, the audit log, and the editor on a phone (390×844). The skip link is the
// first thing Tab reaches, and it moves the focus to the main content. A screenshot of each
// view is kept (artifacts/view-NAME.png).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PEOPLE, api, audit, caretAtStart, invite, login, openDocument, paragraph, screenshot, setPhase, useApp, waitFor } from './harness.mjs'

const app = useApp(['alice', 'bruno', 'olga'])
/** Every view's violations, reported together at the end of each test. */
const problems = []

/** Audits the page as it is now, keeps its screenshot, and records any violation. */
async function check (page, name) {
  // What the view loads is shown first (no “Loading…” left), so that all of it is audited.
  await waitFor(async () => !/Loading|Chargement/.test(await page.locator('main').innerText()), 10000, `${name}: loaded`)
  await screenshot(page, `view-${name}`)
  const violations = await audit(page)
  if (violations.length > 0) {
    problems.push({ view: name, url: page.url(), violations })
    console.error(`axe: ${name} (${page.url()}):\n${JSON.stringify(violations, null, 2)}`)
  }
}

/** By how many pixels the page is wider than its window (0 or less: not wider). */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

function report () {
  const found = problems.splice(0)
  assert.deepEqual(
    found.map((p) => `${p.view}: ${p.violations.map((v) => `${v.id} (${v.impact}) on ${v.nodes.slice(0, 3).join(', ')}`).join('; ')}`),
    [],
    'serious or critical axe-core violations (details above)',
  )
}

test('login and invitation pages', async (t) => {
  const { page } = await app.anonymous(t)
  await page.goto(`${app.server.origin}/login`)
  await page.getByRole('button', { name: 'Log in' }).waitFor()
  await check(page, 'login')

  const secret = await invite(app.server, app.admin, 'newcomer@example.org', 'delegate')
  await page.goto(`${app.server.origin}/invite#${secret}`)
  await page.getByLabel('Choose a password').waitFor({ timeout: 5000 })
  await check(page, 'invite')
  report()
})

test('the skip link comes first and moves the focus to the main content', async (t) => {
  const { page } = await app.loggedIn(t, 'alice')
  await page.goto(`${app.server.origin}/`)
  await page.locator('a.document-link').first().waitFor({ timeout: 5000 })
  await page.keyboard.press('Tab')
  const first = await page.evaluate(() => ({ tag: document.activeElement?.tagName, href: document.activeElement?.getAttribute('href'), text: document.activeElement?.textContent }))
  assert.deepEqual(first, { tag: 'A', href: '#main', text: 'Skip to content' })
  // It is visible when focused.
  const box = await page.locator('a.skip-link').boundingBox()
  assert.ok(box && box.x >= 0 && box.y >= 0 && box.width > 0, `skip link off screen: ${JSON.stringify(box)}`)
  await page.keyboard.press('Enter')
  await waitFor(() => page.evaluate(() => document.activeElement?.id === 'main'), 3000, 'the focus on main')
  // The next Tab goes into the main content, not back to the header.
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => !!document.activeElement?.closest('main')), true)
})

test('every view of a secretariat account', async (t) => {
  const { page } = await app.loggedIn(t, 'admin')
  await page.locator('a.document-link').first().waitFor({ timeout: 5000 })
  await check(page, 'documents')

  await openDocument(page, app.server, 'demo-en')
  await page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
  await check(page, 'text')

  // Some history: a named version, a change to paragraph 1.1, another named version.
  const base = '/api/documents/demo-en'
  await api(app.server, 'POST', `${base}/versions`, { body: { name: 'Before the secretariat’s edit' }, cookie: app.admin, expect: 201 })
  const block = await paragraph(page, '1.1').getAttribute('data-id')
  await caretAtStart(page, '1.1')
  await page.keyboard.type('The secretariat added this sentence. ')
  await page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
  await waitFor(async () => {
    const text = await api(app.server, 'GET', `${base}/text`, { cookie: app.admin, expect: 200 })
    return JSON.stringify(text.body).includes('The secretariat added this sentence.')
  }, 5000, 'the edit stored')
  await api(app.server, 'POST', `${base}/versions`, { body: { name: 'After the secretariat’s edit' }, cookie: app.admin, expect: 201 })

  for (const tab of ['amendments', 'votes']) {
    await page.goto(`${app.server.origin}/documents/demo-en/${tab}`)
    await page.locator('nav.tabs a[aria-current="page"]').waitFor()
    await page.locator('main h2:visible, main h3:visible').first().waitFor({ timeout: 5000 })
    await check(page, tab)
  }

  await page.goto(`${app.server.origin}/documents/demo-en/history`)
  await page.getByRole('button', { name: 'Read version 1' }).waitFor({ timeout: 5000 })
  await check(page, 'history')
  await page.getByLabel(/^Older version/).selectOption('2')
  await page.getByLabel(/^Newer version/).selectOption('3')
  await page.getByRole('button', { name: 'Compare' }).click()
  await page.locator('.compare-paragraph[data-change="changed"] ins').first().waitFor({ timeout: 5000 })
  await check(page, 'history-compare')
  await page.getByRole('button', { name: 'Read version 3' }).click()
  await page.locator('.version-text p[data-id]').first().waitFor({ timeout: 5000 })
  await check(page, 'history-version')
  await page.goto(`${app.server.origin}/documents/demo-en/history?block=${block}`)
  await page.locator('.block-history li').first().waitFor({ timeout: 5000 })
  await check(page, 'history-paragraph')
  // A new version reaches the open page live: listed, and announced.
  await api(app.server, 'POST', `${base}/versions`, { body: { name: 'Taken while the history is open' }, cookie: app.admin, expect: 201 })
  await page.locator('.version-list li[data-version="4"]', { hasText: 'Taken while the history is open' }).waitFor({ timeout: 3000 })
  await page.getByRole('status').filter({ hasText: 'New named version 4: Taken while the history is open.' }).waitFor({ timeout: 3000 })

  await page.goto(`${app.server.origin}/documents/demo-en/manage`)
  await page.getByRole('button', { name: 'Change the phase' }).waitFor({ timeout: 5000 })
  await check(page, 'manage')

  await page.goto(`${app.server.origin}/queue`)
  await page.getByRole('heading', { level: 1 }).waitFor({ timeout: 5000 })
  await check(page, 'queue')

  await page.goto(`${app.server.origin}/admin/members`)
  await page.locator('tr[data-member]').first().waitFor({ timeout: 5000 })
  await check(page, 'members')
  // With the pasted list checked, and a link shown.
  await page.getByLabel('A pasted list').check()
  await page.getByLabel('People to invite, one per line').fill('gus@example.org, delegate\nnot an email')
  await page.getByRole('button', { name: 'Check the list' }).click()
  await page.getByRole('button', { name: 'Send 1 invitation' }).click()
  await page.getByLabel('Invitation link for gus@example.org', { exact: true }).waitFor({ timeout: 5000 })
  await check(page, 'members-list')

  await page.goto(`${app.server.origin}/admin/audit`)
  await page.locator('table.audit-table tbody tr').first().waitFor({ timeout: 10000 })
  await check(page, 'audit')
  report()
})

test('the editor and the history on a phone', async (t) => {
  const { page } = await app.loggedIn(t, 'alice', { viewport: { width: 390, height: 844 } })
  await openDocument(page, app.server, 'demo-en')
  await page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
  await check(page, 'editor-phone')
  await page.goto(`${app.server.origin}/documents/demo-en/history?from=1`)
  await page.locator('.compare-paragraph').first().waitFor({ timeout: 5000 })
  await check(page, 'history-phone')
  // Nothing is wider than the screen.
  const wider = await overflow(page)
  assert.ok(wider <= 0, `the history page is ${wider}px wider than the phone`)
  report()
})

test('the members page and the audit log on a phone', async (t) => {
  const { page } = await app.loggedIn(t, 'admin', { viewport: { width: 390, height: 844 } })
  for (const [name, path, ready] of [
    ['members-phone', '/admin/members', 'tr[data-member]'],
    ['audit-phone', '/admin/audit', '.audit-table tbody tr'],
  ]) {
    await page.goto(`${app.server.origin}${path}`)
    await page.locator(ready).first().waitFor({ timeout: 10000 })
    await check(page, name)
    // Wide tables scroll inside their box; the page itself is not wider than the phone.
    const wider = await overflow(page)
    assert.ok(wider <= 0, `${name}: the page is ${wider}px wider than the phone`)
  }
  report()
})

test('the history of paragraphs changed by amendments, one of them by a vote', async (t) => {
  // The steps before the history (tabling, screening, the ballot) go through the API: they
  // are the amendments' and votes' views' subject, not this test's.
  const base = '/api/documents/demo-fr'
  const admin = app.admin
  const alice = await login(app.server, PEOPLE.alice.email, PEOPLE.alice.password)
  const bruno = await login(app.server, PEOPLE.bruno.email, PEOPLE.bruno.password)
  const text = (await api(app.server, 'GET', `${base}/text`, { cookie: admin, expect: 200 })).body
  const numbered = text.sections.filter((s) => s.number != null).flatMap((s) => s.paragraphs)
  const [first, second] = numbered
  const span = (t) => [{ text: t, em: false, strong: false }]
  await setPhase(app.server, 'demo-fr', 'amendments')
  const a1 = (await api(app.server, 'POST', `${base}/amendments`, {
    body: { kind: 'replace', target: first.id, text: span('Les activités essentielles sont organisées au plus près des personnes.'), rationale: 'Plus court.' },
    cookie: alice,
    expect: 201,
  })).body
  const a2 = (await api(app.server, 'POST', `${base}/amendments`, {
    body: { kind: 'replace', target: second.id, text: span('Le forum soutient les communs et le travail décent.'), rationale: 'Plus clair.' },
    cookie: alice,
    expect: 201,
  })).body
  await api(app.server, 'POST', `${base}/amendments/${a1.id}/screen`, { body: { decision: 'accept' }, cookie: admin, expect: 200 })
  await api(app.server, 'POST', `${base}/amendments/${a2.id}/screen`, { body: { decision: 'vote' }, cookie: admin, expect: 200 })
  await setPhase(app.server, 'demo-fr', 'voting')
  const ballot = (await api(app.server, 'POST', `${base}/ballots`, {
    body: { subject: { kind: 'amendment', amendment: a2.id }, rules: { majority: 'simple', visibility: 'secret' } },
    cookie: admin,
    expect: 201,
  })).body
  for (const voter of [alice, bruno]) {
    await api(app.server, 'PUT', `${base}/ballots/${ballot.id}/vote`, { body: { choice: 'yes' }, cookie: voter, expect: 200 })
  }
  await api(app.server, 'POST', `${base}/ballots/${ballot.id}/close`, { body: {}, cookie: admin, expect: 200 })
  await waitFor(async () => {
    const versions = (await api(app.server, 'GET', `${base}/versions`, { cookie: admin, expect: 200 })).body
    return versions.filter((v) => v.kind === 'amendment').length === 2
  }, 10000, 'both amendments applied')

  const { page } = await app.loggedIn(t, 'admin')
  await page.goto(`${app.server.origin}/documents/demo-fr/history?block=${second.id}`)
  const adopted = page.locator('.block-history li', { hasText: `Amendment ${a2.label} adopted` })
  await adopted.waitFor({ timeout: 5000 })
  await screenshot(page, 'view-history-amendment')
  const said = await adopted.innerText()
  assert.match(said, new RegExp(`Amendment ${a2.label} \\(new wording\\), adopted\\.`))
  assert.match(said, /Vote: 2 for, 0 against, 0 abstentions, 2 of \d+ voted — adopted\./)
  assert.ok(await adopted.locator('ins', { hasText: 'communs' }).count() > 0, 'the words the vote added are marked')
  assert.ok(await adopted.locator('del').count() > 0, 'the words the vote removed are marked')
  await check(page, 'history-amendment')

  // The paragraph picker offers the paragraphs of the live text; A1's paragraph from it.
  await page.getByLabel(/^Paragraph/).selectOption(first.id)
  await page.getByRole('button', { name: 'Show its history' }).click()
  const accepted = page.locator('.block-history li', { hasText: `Amendment ${a1.label} accepted` })
  await accepted.waitFor({ timeout: 5000 })
  assert.match(await accepted.innerText(), /Accepted by the secretariat without a vote\./)
  assert.equal(new URL(page.url()).searchParams.get('block'), first.id)
  // The result's heading takes the focus, for keyboard and screen reader users.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'history-result-title')

  // The amendments and votes views with something in them (two amendments, a result).
  for (const [tab, text] of [['amendments', a2.label], ['votes', a2.label]]) {
    await page.goto(`${app.server.origin}/documents/demo-fr/${tab}`)
    await page.locator('main').getByText(text).first().waitFor({ timeout: 10000 })
    await check(page, `${tab}-filled`)
  }
  report()
})
