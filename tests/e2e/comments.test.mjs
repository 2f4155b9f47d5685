// Comments in the browser: a comment on selected words appears for the other delegate, is
// replied to and resolved, with the outline's count following; the panel passes the axe-core
// audit, works on a phone, and reads only for an observer.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertAccessible, openDocument, paragraph, screenshot, setPhase, useApp, waitFor } from './harness.mjs'

/** How long a change made by one person may take to show for another. */
const LIVE_MS = 2500

const app = useApp(['alice', 'bruno', 'olga'])

/** The comments panel of a page. */
const panel = (page) => page.locator('aside.comments-panel')

/** The thread in the panel whose quote or body has this text. */
const threadWith = (page, text) => panel(page).locator('li.thread', { hasText: text })

/** The app's polite live region, saying `text`. */
const liveRegion = (page, text) => page.locator('[role="status"][aria-live="polite"]', { hasText: text })

/** The outline's entry of a section, by a word of its title. */
const outlineEntry = (page, title) => page.locator('.outline li', { hasText: title })

/** Selects the first `length` characters of a paragraph with the keyboard. */
async function selectStart (page, number, length) {
  const target = paragraph(page, number)
  await target.click({ position: { x: 2, y: 6 } })
  await page.keyboard.press('Home')
  for (let i = 0; i < length; i++) await page.keyboard.press('Shift+ArrowRight')
}

test('a comment on a selection appears for the other delegate, is replied to and resolved', async (t) => {
  const alice = await app.loggedIn(t, 'alice')
  const bruno = await app.loggedIn(t, 'bruno')
  await openDocument(alice.page, app.server, 'demo-en')
  await openDocument(bruno.page, app.server, 'demo-en')
  for (const { page } of [alice, bruno]) {
    await panel(page).getByText('No comments yet.').waitFor({ timeout: 5000 })
    assert.equal(await outlineEntry(page, 'Keeping value').locator('.badge').count(), 0)
  }

  // Alice selects "Local authorities" in 1.2 with the keyboard and comments on it.
  await selectStart(alice.page, '1.2', 'Local authorities'.length)
  await panel(alice.page).getByText('Selected in ¶ 1.2: “Local authorities”').waitFor({ timeout: 2000 })
  // The panel follows the text in the tab order, and the editor keeps the selection.
  await alice.page.keyboard.press('Tab')
  const focused = await alice.page.evaluate(() => document.activeElement?.textContent)
  assert.equal(focused, 'Comment on the selection')
  await alice.page.keyboard.press('Enter')
  const field = panel(alice.page).getByLabel('Your comment')
  await waitFor(() => field.evaluate((el) => el === document.activeElement), 2000, 'the form to take the focus')
  await alice.page.keyboard.type('Should this include regional authorities too?')
  await alice.page.keyboard.press('Tab')
  await alice.page.keyboard.press('Enter') // "Post the comment", reached with the keyboard
  await threadWith(alice.page, 'Should this include regional authorities too?').waitFor({ timeout: 3000 })
  const id = await threadWith(alice.page, 'Should this include regional authorities too?').getAttribute('data-thread')
  const byId = (page) => panel(page).locator(`li.thread[data-thread="${id}"]`)
  const mine = byId(alice.page)
  assert.match(await mine.locator('.thread-quote').innerText(), /Local authorities/)
  assert.match(await mine.locator('.anchor-link').innerText(), /¶\s1\.2/)

  // Bruno sees it live, with its quote, the words marked in the text and the outline's count.
  const seen = threadWith(bruno.page, 'Should this include regional authorities too?')
  await seen.waitFor({ timeout: LIVE_MS })
  await liveRegion(bruno.page, 'New comment by Alice Martin.').waitFor({ state: 'attached', timeout: LIVE_MS })
  assert.match(await seen.locator('.thread-quote').innerText(), /Local authorities/)
  assert.match(await seen.locator('.comment-author').first().innerText(), /Alice Martin/)
  await bruno.page.locator('.manuscript .comment-anchor', { hasText: 'Local authorities' }).waitFor({ timeout: LIVE_MS })
  await outlineEntry(bruno.page, 'Keeping value').locator('.badge', { hasText: '1' }).waitFor({ timeout: LIVE_MS })
  await outlineEntry(alice.page, 'Keeping value').locator('.badge', { hasText: '1' }).waitFor({ timeout: LIVE_MS })
  assert.equal(await alice.page.locator('.manuscript .comment-anchor').innerText(), 'Local authorities')
  // Only the thread's author (or the secretariat) resolves it.
  assert.equal(await seen.getByRole('button', { name: 'Resolve' }).count(), 0)

  // The mark follows edits made before it in the paragraph.
  await paragraph(bruno.page, '1.2').click({ position: { x: 2, y: 6 } })
  await bruno.page.keyboard.press('Home')
  await bruno.page.keyboard.type('All ')
  // (The mark, drawn from the anchor followed live, stays on the same words.)
  await alice.page.waitForFunction(
    () => {
      const p = document.querySelector('.manuscript p[data-number="1.2"]')
      return p?.textContent.startsWith('All ') && p.querySelector('.comment-anchor')?.textContent === 'Local authorities'
    },
    null,
    { timeout: LIVE_MS },
  )

  // Bruno replies.
  await seen.getByRole('button', { name: 'Reply' }).click()
  await seen.getByLabel('Your reply').fill('Yes: regions fund most of these hubs.')
  await seen.getByRole('button', { name: 'Post the reply' }).click()
  await seen.locator('.replies', { hasText: 'Yes: regions fund most of these hubs.' }).waitFor({ timeout: 3000 })

  // Alice sees the reply live.
  await mine.locator('.replies', { hasText: 'Yes: regions fund most of these hubs.' }).waitFor({ timeout: LIVE_MS })
  assert.match(await mine.locator('.replies .comment-author').innerText(), /Bruno Keller/)
  await liveRegion(alice.page, 'New reply by Bruno Keller.').waitFor({ state: 'attached', timeout: LIVE_MS })

  // The Text tab with a thread in the panel passes the audit.
  await assertAccessible(alice.page, 'comments (Alice)')
  await screenshot(alice.page, 'comments-thread')

  // Alice edits her comment: both see it marked "edited".
  await mine.locator('article.comment').first().getByRole('button', { name: 'Edit' }).click()
  const edit = mine.getByLabel('Your comment, edited')
  await edit.fill('Should this include regional and local authorities?')
  await mine.getByRole('button', { name: 'Save' }).click()
  const edited = threadWith(bruno.page, 'Should this include regional and local authorities?')
  await edited.locator('.revisions summary', { hasText: 'edited' }).waitFor({ timeout: LIVE_MS })
  await mine.locator('.revisions summary', { hasText: 'edited' }).waitFor({ timeout: 2000 })

  // Alice resolves the thread: it leaves both lists of open threads and the outline's count.
  await mine.getByRole('button', { name: 'Resolve' }).focus()
  await alice.page.keyboard.press('Enter')
  // The focus does not fall out of the panel when the thread leaves the list.
  await alice.page.waitForFunction(() => document.activeElement?.id === 'comments-title', null, { timeout: LIVE_MS })
  for (const { page } of [alice, bruno]) {
    await byId(page).waitFor({ state: 'detached', timeout: LIVE_MS })
    await outlineEntry(page, 'Keeping value').locator('.badge').waitFor({ state: 'detached', timeout: LIVE_MS })
    await page.locator('.manuscript .comment-anchor').waitFor({ state: 'detached', timeout: LIVE_MS })
    await panel(page).getByLabel(/Resolved threads too \(1\)/).check()
    const resolved = byId(page)
    await resolved.locator('.resolved-badge', { hasText: 'Resolved' }).waitFor({ timeout: 2000 })
    assert.match(await resolved.getAttribute('class'), /\bresolved\b/)
  }
  // Reopening brings the count back.
  await byId(alice.page).getByRole('button', { name: 'Reopen' }).click()
  await outlineEntry(bruno.page, 'Keeping value').locator('.badge', { hasText: '1' }).waitFor({ timeout: LIVE_MS })
})

test('a section comment, deleting one’s own, and the panel on a phone', async (t) => {
  const bruno = await app.loggedIn(t, 'bruno', { viewport: { width: 390, height: 844 } })
  await openDocument(bruno.page, app.server, 'demo-en')
  // On a phone the panel is under the text: selecting words brings a button at hand.
  await selectStart(bruno.page, '2.1', 'Employees'.length)
  const fab = bruno.page.getByRole('button', { name: /Comment on the selected words/ })
  await fab.waitFor({ timeout: 2000 })
  // Without words selected, a comment goes on the section where the caret is.
  await bruno.page.keyboard.press('ArrowRight')
  await fab.waitFor({ state: 'detached', timeout: 2000 })
  const start = panel(bruno.page).getByRole('button', { name: 'Comment on this section' })
  await start.click()
  const select = panel(bruno.page).getByLabel('Section')
  assert.match(await select.locator('option:checked').innerText(), /2\. Shared ownership/)
  await panel(bruno.page).getByLabel('Your comment').fill('A word on cooperatives of freelancers would help.')
  await panel(bruno.page).getByRole('button', { name: 'Post the comment' }).click()
  const thread = threadWith(bruno.page, 'A word on cooperatives of freelancers')
  await thread.waitFor({ timeout: 3000 })
  assert.match(await thread.locator('.anchor-link').innerText(), /Whole section/)
  await thread.scrollIntoViewIfNeeded()
  await screenshot(bruno.page, 'comments-phone')
  await assertAccessible(bruno.page, 'comments (phone)')

  // Bruno deletes it (softly): it says so and leaves nothing to read.
  await thread.getByRole('button', { name: 'Delete' }).click()
  await thread.getByRole('button', { name: 'Delete it' }).click()
  await liveRegion(bruno.page, 'Your comment is deleted.').waitFor({ state: 'attached', timeout: 3000 })
  await thread.waitFor({ state: 'detached', timeout: 3000 })
})

test('the secretariat hides a comment with a reason; observers and closed comments read only', async (t) => {
  const admin = await app.loggedIn(t, 'admin')
  const olga = await app.loggedIn(t, 'olga')
  const alice = await app.loggedIn(t, 'alice')
  for (const { page } of [admin, olga, alice]) await openDocument(page, app.server, 'demo-en')
  const reply = 'Yes: regions fund most of these hubs.'

  // The observer reads the thread, with no control to write.
  await threadWith(olga.page, 'regional and local authorities').waitFor({ timeout: 5000 })
  await panel(olga.page).getByText('As an observer, you read the comments but do not write any.').waitFor()
  await selectStart(olga.page, '1.1', 9)
  assert.equal(await panel(olga.page).getByRole('button', { name: /Comment on/ }).count(), 0)
  assert.equal(await panel(olga.page).getByRole('button', { name: /Reply|Resolve|Edit|Delete|Hide/ }).count(), 0)

  // The secretariat hides Bruno's reply with a reason, from the keyboard.
  const moderated = panel(admin.page).locator('article.comment', { hasText: reply })
  await moderated.getByRole('button', { name: 'Hide' }).click()
  const reason = moderated.getByLabel('Reason, shown to every member')
  await waitFor(() => reason.evaluate((el) => el === document.activeElement), 2000, 'the reason field to take the focus')
  await admin.page.keyboard.type('Off topic: please keep to the text.')
  await admin.page.keyboard.press('Enter')
  await moderated.getByText('Hidden by the secretariat: Off topic: please keep to the text.').waitFor({ timeout: 3000 })

  // Everyone sees why; the body is gone for them, the secretariat still reads it.
  for (const { page } of [olga, alice]) {
    const thread = threadWith(page, 'regional and local authorities')
    await thread.getByText('Hidden by the secretariat: Off topic: please keep to the text.').waitFor({ timeout: LIVE_MS })
    assert.equal(await thread.getByText(reply).count(), 0)
  }
  assert.equal(await moderated.locator('.comment-body.is-hidden', { hasText: reply }).count(), 1)

  // Voting: comments close; the panel says why and offers no writing, but still reads.
  assert.ok(await panel(alice.page).getByRole('button', { name: 'Reply' }).count() > 0)
  await setPhase(app.server, 'demo-en', 'voting', { cookie: app.admin })
  await panel(alice.page).getByText('Comments are closed in the Voting phase.').waitFor({ timeout: LIVE_MS })
  assert.equal(await panel(alice.page).getByRole('button', { name: /Comment on|Reply|Resolve|Reopen|Edit|Delete/ }).count(), 0)
  await threadWith(alice.page, 'regional and local authorities').waitFor()
})
