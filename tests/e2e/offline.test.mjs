// A delegate loses the network, goes on writing (the page says the edits are kept), comes
// back: the edit reaches the other browser and the server, and the page says all is saved.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { launchBrowser, loggedIn, openDocument, paragraph, screenshot, startApp, waitFor } from './harness.mjs'
import { storedText } from '../node/helpers.mjs'

let app, browser
before(async () => {
  app = await startApp(['alice', 'bruno'])
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
  await app?.close()
})

test('an edit made offline reaches the other browser once back online', async () => {
  const alice = await loggedIn(browser, app.server, 'alice')
  const bruno = await loggedIn(browser, app.server, 'bruno')
  await openDocument(alice.page, app.server, 'demo-en')
  await openDocument(bruno.page, app.server, 'demo-en')
  const status = alice.page.locator('.connection')
  await alice.page.locator('.connection[data-state="saved"]').waitFor({ timeout: 5000 })

  await alice.context.setOffline(true)
  await alice.page.locator('.connection[data-state="offline"]').waitFor({ timeout: 5000 })
  assert.match(await status.textContent(), /Offline — your edits are kept/)

  await paragraph(alice.page, '2.1').click({ position: { x: 2, y: 8 } })
  await alice.page.keyboard.press('Home')
  await alice.page.keyboard.type('Written offline. ')
  await screenshot(alice.page, 'editor-offline')
  // Nothing reaches Bruno or the server meanwhile.
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
  await alice.context.close()
  await bruno.context.close()
})

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

test('an edit made offline is kept in the browser across a reload', async () => {
  const alice = await loggedIn(browser, app.server, 'alice')
  const bruno = await loggedIn(browser, app.server, 'bruno')
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
  await paragraph(alice.page, '1.2').click({ position: { x: 2, y: 8 } })
  await alice.page.keyboard.press('Home')
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
  await alice.context.close()
  await bruno.context.close()
})
