// A delegate loses the network, goes on writing (the page says the edits are kept), comes
// back: the edit reaches the other browser and the server, and the page says all is saved.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { caretAtStart, openDocument, paragraph, screenshot, storedText, useApp, waitFor } from './harness.mjs'

const app = useApp(['alice', 'bruno'])

/** How long the other browser is watched for an edit that must not reach it. */
const NEVER_SEEN_MS = 1000

/** How many updates y-indexeddb holds for the documents this page opened. */
function storedUpdates (page) {
  return page.evaluate(async () => {
    const names = (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith('manifesto:'))
    let total = 0
    for (const name of names) {
      total += await new Promise((resolve, reject) => {
        const open = indexedDB.open(name)
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const db = open.result
          const count = db.transaction('updates').objectStore('updates').count()
          count.onsuccess = () => { db.close(); resolve(count.result) }
          count.onerror = () => reject(count.error)
        }
      })
    }
    return total
  })
}

test('an edit made offline reaches the other browser once back online', async (t) => {
  const alice = await app.loggedIn(t, 'alice')
  const bruno = await app.loggedIn(t, 'bruno')
  await openDocument(alice.page, app.server, 'demo-en')
  await openDocument(bruno.page, app.server, 'demo-en')
  const status = alice.page.locator('.connection')
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 5000 })

  await alice.context.setOffline(true)
  await alice.page.locator('.connection[data-state="offline"]').waitFor({ timeout: 5000 })
  assert.match(await status.textContent(), /Offline — your edits are kept/)

  const updatesBefore = await storedUpdates(alice.page)
  await caretAtStart(alice.page, '2.1')
  await alice.page.keyboard.type('Written offline. ')
  await screenshot(alice.page, 'editor-offline')
  // Nothing reaches Bruno or the server meanwhile: the app has taken the edit (it is in
  // IndexedDB), and Bruno is watched for a while before the check.
  await waitFor(async () => (await storedUpdates(alice.page)) > updatesBefore, 5000, 'the edit written to IndexedDB')
  await bruno.page.waitForTimeout(NEVER_SEEN_MS)
  assert.equal(await paragraph(bruno.page, '2.1').filter({ hasText: 'Written offline.' }).count(), 0)
  const before = await storedText(app.server, 'demo-en')
  assert.ok(![...before.paragraphs.values()].some((t) => t.includes('Written offline.')))

  await alice.context.setOffline(false)
  await paragraph(bruno.page, '2.1').filter({ hasText: 'Written offline.' }).waitFor({ timeout: 10000 })
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
  await waitFor(async () => {
    const { paragraphs } = await storedText(app.server, 'demo-en')
    return [...paragraphs.values()].some((t) => t.startsWith('Written offline. '))
  }, 5000, 'the server stores the offline edit')
})

test('an edit made offline is kept in the browser across a reload', async (t) => {
  const alice = await app.loggedIn(t, 'alice')
  const bruno = await app.loggedIn(t, 'bruno')
  // Alice's live connections pass through a switch, to reload her page later with the
  // connection going nowhere (as behind a captive portal).
  let blocked = false
  await alice.context.routeWebSocket(/\/ws\//, (ws) => {
    if (blocked) ws.close({ code: 1013, reason: 'test: network unreachable' })
    else ws.connectToServer()
  })
  await openDocument(alice.page, app.server, 'demo-fr')
  await openDocument(bruno.page, app.server, 'demo-fr')
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 5000 })
  await alice.context.setOffline(true)
  await alice.page.locator('.connection[data-state="offline"]').waitFor({ timeout: 5000 })
  const updatesBefore = await storedUpdates(alice.page)
  await caretAtStart(alice.page, '1.2')
  await alice.page.keyboard.type('Gardé hors ligne. ')
  await waitFor(async () => (await storedUpdates(alice.page)) > updatesBefore, 5000, 'the edit written to IndexedDB')

  // The page is reloaded with the live connection going nowhere: the edit comes back from
  // IndexedDB alone, and has not reached the server.
  blocked = true
  await alice.context.setOffline(false)
  await alice.page.reload()
  await paragraph(alice.page, '1.2').filter({ hasText: 'Gardé hors ligne.' }).waitFor({ timeout: 10000 })
  assert.equal(await paragraph(bruno.page, '1.2').filter({ hasText: 'Gardé hors ligne.' }).count(), 0)

  // With the connection back, it is sent.
  blocked = false
  await alice.page.reload()
  await paragraph(bruno.page, '1.2').filter({ hasText: 'Gardé hors ligne.' }).waitFor({ timeout: 10000 })
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 10000 })
})
