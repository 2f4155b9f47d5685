// Amendments and votes in the browser, as one flow: the secretariat freezes the text through the
// Manage tab, the editor turns read-only, Alice proposes a change to paragraph 1.1 (shown as a
// word diff), Bruno supports it from his phone, the secretariat puts it to a vote, opens the
// ballot in the Voting phase, both delegates vote yes, the secretariat closes the ballot, and
// the adopted words appear in both editors. Each view passes the axe-core audit; my queue lists
// what awaits each person. An observer reads without acting. Then the final vote on the whole
// text, with counts shown live to everyone, adopts the Manifesto.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertAccessible, openDocument, paragraph, screenshot, useApp, waitFor } from './harness.mjs'

/** How long a change made by one person may take to show for another. */
const LIVE_MS = 3000
/** How long the adopted text may take to reach the editors (close, follow-up, sync). */
const ADOPTED_MS = 5000

const PHONE = { width: 390, height: 844 }
const OLD_WORDS = 'should be organised as close as possible'
const NEW_WORDS = 'must be run democratically, as close as possible'

const app = useApp(['alice', 'bruno', 'olga'])

const goTab = (page, tab) => page.goto(`${app.server.origin}/documents/demo-en${tab ? `/${tab}` : ''}`)

/** The amendment card titled "A<n> · …". */
const card = (page, label) => page.locator('article.amendment', { has: page.locator('h3', { hasText: `${label} ·` }) })

/** The polite live region's text. */
const announced = (page, pattern) =>
  page.waitForFunction((source) => new RegExp(source).test(document.querySelector('main ~ [role=status]')?.textContent ?? ''), pattern.source, {
    timeout: LIVE_MS,
  })

/** The text of every element `locator` matches, joined with " | ". */
const texts = async (locator) => (await locator.allTextContents()).join(' | ')

/** The secretariat moves the document to `phase` through the Manage tab. */
async function movePhase (page, phase) {
  await goTab(page, 'manage')
  await page.getByLabel('Move to').selectOption({ label: phase })
  await page.getByRole('button', { name: 'Change the phase' }).click()
  await page.locator('#main').getByText(`The document is now in the ${phase} phase.`).waitFor({ timeout: 5000 })
}

test('an amendment goes from proposal to the adopted text in every editor', async (t) => {
  const admin = await app.loggedIn(t, 'admin')
  const alice = await app.loggedIn(t, 'alice')
  const bruno = await app.loggedIn(t, 'bruno', { viewport: PHONE })
  await openDocument(alice.page, app.server, 'demo-en')
  await openDocument(bruno.page, app.server, 'demo-en')
  const original = await paragraph(alice.page, '1.1').innerText()
  assert.ok(original.includes(OLD_WORDS), original)
  assert.equal(await alice.page.locator('.manuscript').getAttribute('contenteditable'), 'true')

  // The secretariat asks for one supporter, then freezes the text for amendments.
  await goTab(admin.page, 'manage')
  const minField = admin.page.getByLabel('Supporters an amendment needs before screening')
  await minField.fill('1')
  await admin.page.getByRole('button', { name: 'Save the rules' }).click()
  await admin.page.locator('#main').getByText('Rules saved.').waitFor({ timeout: 5000 })
  await movePhase(admin.page, 'Amendments')

  // Alice's editor turns read-only in place, says so, and typing changes nothing.
  await alice.page.locator('.manuscript[contenteditable="false"]').waitFor({ timeout: LIVE_MS })
  await alice.page.locator('[data-testid=read-only]').waitFor({ timeout: LIVE_MS })
  await paragraph(alice.page, '1.1').click()
  await alice.page.keyboard.type('typed while frozen ')
  assert.equal(await paragraph(alice.page, '1.1').innerText(), original)

  // Bruno waits on the Amendments tab (phone); Alice proposes a replacement of 1.1.
  await goTab(bruno.page, 'amendments')
  await bruno.page.getByText('No amendment yet.').waitFor({ timeout: 5000 })
  await alice.page.locator('nav.tabs').getByRole('link', { name: 'Amendments' }).click()
  await alice.page.getByRole('button', { name: 'Propose an amendment' }).click()
  const select = alice.page.getByLabel('Paragraph', { exact: true })
  await waitFor(() => select.evaluate((el) => el === document.activeElement), 2000, 'the form to take the focus')
  const value = await select.locator('option', { hasText: /^1\.1 — Essential activities/ }).getAttribute('value')
  await select.selectOption(value)
  const proposed = alice.page.getByLabel('Proposed text')
  await waitFor(async () => (await proposed.inputValue()) === original, 2000, 'the proposal to start as a copy of the paragraph')
  await proposed.fill(original.replace(OLD_WORDS, NEW_WORDS))
  const preview = alice.page.locator('.propose .preview')
  await preview.locator('ins', { hasText: 'run democratically,' }).waitFor({ timeout: 2000 })
  assert.match(await texts(preview.locator('ins')), /must.*run democratically,/)
  assert.match(await texts(preview.locator('del')), /should.*organised/)
  await alice.page.getByLabel('Rationale').fill('Ownership by the people served is the point of the whole section.')
  await alice.page.getByRole('button', { name: 'Table the amendment' }).click()

  const mine = card(alice.page, 'A1')
  await mine.waitFor({ timeout: 5000 })
  assert.match(await mine.locator('h3').innerText(), /A1 · Replace paragraph 1\.1/)
  assert.match(await texts(mine.locator('.amendment-diff ins')), /must.*run democratically,/)
  assert.match(await texts(mine.locator('.amendment-diff del')), /should.*organised/)
  assert.match(await mine.locator('.amendment-diff').innerText(), /Essential activities/, 'the words kept are shown too')
  assert.match(await mine.locator('.status-badge').innerText(), /Awaiting screening/)
  assert.match(await mine.innerText(), /supporters needed for screening: 0 of 1/)
  assert.equal(await mine.getByRole('button', { name: 'Support' }).count(), 0, 'no support for one’s own')
  await mine.locator('h3').focus()
  await screenshot(alice.page, 'amendment-diff')
  await assertAccessible(alice.page, 'amendments (Alice)')

  // Bruno sees it live, announced, and supports it; his queue listed it until then.
  const seen = card(bruno.page, 'A1')
  await seen.waitFor({ timeout: LIVE_MS })
  await announced(bruno.page, /New amendment A1 by Alice Martin/)
  await bruno.page.goto(`${app.server.origin}/queue`)
  const toSupport = bruno.page.locator('.queue-group', { hasText: 'Amendments you can support' })
  await toSupport.getByRole('link', { name: /A1 · Replace paragraph 1\.1/ }).click()
  await bruno.page.waitForURL(/\/documents\/demo-en\/amendments\?amendment=1$/)
  await seen.getByRole('button', { name: 'Support' }).click()
  await seen.getByRole('button', { name: 'Withdraw my support' }).waitFor({ timeout: 3000 })
  await mine.getByText('Supported by Bruno Keller').waitFor({ timeout: LIVE_MS })

  await alice.page.getByLabel('Status', { exact: true }).selectOption({ label: 'Awaiting screening' })
  assert.equal(await alice.page.locator('article.amendment').count(), 1)
  await alice.page.getByLabel('Status', { exact: true }).selectOption({ label: 'All statuses' })
  await screenshot(alice.page, 'amendments-list')

  // The secretariat's queue has it to screen; it is put to a vote from the Amendments tab.
  await admin.page.goto(`${app.server.origin}/queue`)
  const toScreen = admin.page.locator('.queue-group', { hasText: 'Amendments to screen' })
  await toScreen.getByRole('link', { name: /A1 · Replace paragraph 1\.1/ }).waitFor({ timeout: 5000 })
  assert.match(await toScreen.innerText(), /supporters needed: 1 of 1/)
  await screenshot(admin.page, 'queue')
  await assertAccessible(admin.page, 'queue')
  await toScreen.getByRole('link', { name: /A1/ }).click()
  const screened = card(admin.page, 'A1')
  await screened.getByText('Screen this amendment').click()
  await screened.getByRole('button', { name: 'Put to a vote' }).click()
  await screened.locator('.status-badge', { hasText: 'Put to a vote' }).waitFor({ timeout: 3000 })
  await mine.locator('.status-badge', { hasText: 'Put to a vote' }).waitFor({ timeout: LIVE_MS })
  await assertAccessible(admin.page, 'amendments (secretariat)')

  // Ballots on amendments take place in the Voting phase: the secretariat moves there and
  // opens the ballot from the Votes tab.
  await movePhase(admin.page, 'Voting')
  await goTab(alice.page, 'votes')
  await goTab(bruno.page, 'votes')
  await bruno.page.getByText('No ballot is open.').waitFor({ timeout: 5000 })
  await goTab(admin.page, 'votes')
  const form = admin.page.locator('form.open-ballot')
  await form.waitFor({ timeout: 5000 })
  assert.match(await form.getByLabel('Subject', { exact: true }).locator('option:checked').innerText(), /A1 · Replace paragraph 1\.1/)
  assert.match(await form.locator('.rules-preview').innerText(), /more vote yes than no/)
  await form.getByRole('button', { name: 'Open the ballot' }).click()
  const ballot = (page) => page.locator('article.ballot').first()
  await ballot(admin.page).getByRole('button', { name: 'Close the ballot' }).waitFor({ timeout: 5000 })

  // Both vote yes: Alice on her laptop, Bruno on his phone.
  for (const { page } of [alice, bruno]) {
    const open = ballot(page)
    await open.getByRole('button', { name: 'Yes', exact: true }).waitFor({ timeout: LIVE_MS })
    assert.match(await open.locator('.rule').innerText(), /Adopted if more vote yes than no/)
    assert.match(await open.innerText(), /On amendment A1 · Replace paragraph 1\.1/)
    assert.equal(await open.locator('h4').innerText(), 'Adopt amendment A1?')
    if (page === alice.page) {
      // With the keyboard: the buttons are real buttons.
      await open.getByRole('button', { name: 'Yes', exact: true }).focus()
      await page.keyboard.press('Space')
    } else await open.getByRole('button', { name: 'Yes', exact: true }).click()
    await open.getByText('You voted “Yes”.').waitFor({ timeout: 3000 })
    assert.equal(await open.getByRole('button', { name: 'Yes', exact: true }).getAttribute('aria-pressed'), 'true')
  }
  await ballot(bruno.page).getByText('Voted so far: 2 of 2.').waitFor({ timeout: 3000 })
  const yes = ballot(bruno.page).getByRole('button', { name: 'Yes', exact: true })
  const box = await yes.boundingBox()
  assert.ok(box.height >= 44 && box.width >= 100, `a big enough button on the phone: ${JSON.stringify(box)}`)
  await ballot(bruno.page).scrollIntoViewIfNeeded()
  await screenshot(bruno.page, 'votes-phone')
  await assertAccessible(bruno.page, 'votes (phone)')

  // The secretariat closes the ballot: the result shows for everyone, with counts and rule.
  await goTab(admin.page, 'votes')
  await ballot(admin.page).getByRole('button', { name: 'Close the ballot' }).click()
  await ballot(admin.page).getByRole('button', { name: 'Yes, close it' }).click()
  for (const { page } of [admin, alice, bruno]) {
    const result = page.locator('article.ballot.result-adopted')
    await result.waitFor({ timeout: LIVE_MS })
    assert.match(await result.locator('.outcome-text').innerText(), /^Adopted: 2 yes, 0 no, 0 abstentions\.$/)
    assert.match(await result.innerText(), /Turnout: 2 of 2 eligible voters\./)
  }
  await announced(alice.page, /Result of “Adopt amendment A1\?”: Adopted: 2 yes/)
  await assertAccessible(admin.page, 'votes (results)')

  // The adopted words reach both editors, and the amendment says it was adopted.
  for (const { page } of [alice, bruno]) {
    await page.locator('nav.tabs').getByRole('link', { name: 'Text' }).click()
    await page.waitForFunction(
      (words) => document.querySelector('.manuscript p[data-number="1.1"]')?.textContent.includes(words),
      NEW_WORDS,
      { timeout: ADOPTED_MS },
    )
    assert.ok(!(await paragraph(page, '1.1').innerText()).includes(OLD_WORDS))
  }
  await goTab(alice.page, 'amendments')
  await card(alice.page, 'A1').locator('.status-badge', { hasText: 'Adopted' }).waitFor({ timeout: 5000 })
})

test('an observer follows amendments and votes without acting, in French too', async (t) => {
  const olga = await app.loggedIn(t, 'olga', { lang: 'fr' })
  await goTab(olga.page, 'amendments')
  await card(olga.page, 'A1').waitFor({ timeout: 5000 })
  assert.equal(await olga.page.getByRole('button', { name: /Proposer|Soutenir|Retirer/ }).count(), 0)
  await olga.page.getByText(/Comme observateur·rice, vous suivez les amendements/).waitFor()
  await goTab(olga.page, 'votes')
  const result = olga.page.locator('article.ballot.result-adopted')
  await result.waitFor({ timeout: 5000 })
  assert.equal(await result.locator('.outcome-text').innerText(), 'Adopté\u00a0: 2 pour, 0 contre, 0 abstention.')
  assert.match(await result.locator('.rule').innerText(), /l’égalité vaut rejet/)
  await assertAccessible(olga.page, 'votes (observer, French)')
  await olga.page.goto(`${app.server.origin}/queue`)
  await olga.page.getByText(/rien n’attend votre décision/).waitFor({ timeout: 5000 })
})

test('the final vote on the whole text, with live counts, adopts the Manifesto', async (t) => {
  const admin = await app.loggedIn(t, 'admin')
  const alice = await app.loggedIn(t, 'alice')
  const bruno = await app.loggedIn(t, 'bruno', { viewport: PHONE })
  await movePhase(admin.page, 'Final vote')
  await goTab(admin.page, 'votes')
  const form = admin.page.locator('form.open-ballot')
  await form.waitFor({ timeout: 5000 })
  assert.match(await form.getByLabel('Subject', { exact: true }).locator('option:checked').innerText(), /The whole text/)
  await form.getByLabel('Roll call (votes published at the close)').check()
  await form.getByLabel('Shown live').check()
  assert.match(await form.locator('.rules-preview').innerText(), /Roll call: .* Counts are shown live/)
  await form.getByRole('button', { name: 'Open the ballot' }).click()
  const adminBallot = admin.page.locator('article.ballot.final')
  await adminBallot.getByText('Voted so far: 0 of 2.').waitFor({ timeout: 5000 })

  await goTab(alice.page, 'votes')
  await goTab(bruno.page, 'votes')
  await alice.page.locator('article.ballot.final').getByRole('button', { name: 'Yes', exact: true }).click()
  const phoneBallot = bruno.page.locator('article.ballot.final')
  assert.equal(await phoneBallot.locator('h4').innerText(), 'Adopt the Manifesto as a whole?')
  await phoneBallot.getByRole('button', { name: 'Abstain', exact: true }).click()
  await phoneBallot.getByText('You voted “Abstain”.').waitFor({ timeout: 3000 })

  // The secretariat, who does not vote, sees the number of voters and the counts follow.
  await adminBallot.getByText('Voted so far: 2 of 2.').waitFor({ timeout: LIVE_MS })
  await adminBallot.getByText('Counts so far: 1 yes, 0 no, 1 abstention.').waitFor({ timeout: LIVE_MS })

  await adminBallot.getByRole('button', { name: 'Close the ballot' }).click()
  await admin.page.keyboard.press('Escape')
  await adminBallot.getByRole('button', { name: 'Close the ballot' }).waitFor({ timeout: 2000 })
  assert.equal(
    await adminBallot.getByRole('button', { name: 'Close the ballot' }).evaluate((el) => el === document.activeElement),
    true,
    'Escape cancels and gives the focus back',
  )
  await adminBallot.getByRole('button', { name: 'Close the ballot' }).click()
  await adminBallot.getByRole('button', { name: 'Yes, close it' }).click()
  for (const { page } of [admin, alice, bruno]) {
    const result = page.locator('article.ballot.final.result-adopted')
    await result.waitFor({ timeout: LIVE_MS })
    assert.equal(await result.locator('.outcome-text').innerText(), 'Adopted: 1 yes, 0 no, 1 abstention.')
    await page.locator('.doc-meta .phase', { hasText: 'Adopted' }).waitFor({ timeout: LIVE_MS })
  }
  await phoneBallot.getByText('Votes by name').click()
  assert.match(await phoneBallot.locator('table').innerText(), /Alice Martin\s+Yes[\s\S]*Bruno Keller\s+Abstain/)
})
