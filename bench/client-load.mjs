// The browser app's initial load, for BENCHMARKS.md: the gzipped size of its JavaScript and
// CSS (what the server sends: the `.gz` twins the build writes), and the time from navigation
// to an editable document with the demo draft, in headless Chromium, cold (a new browser
// context each time: empty HTTP cache and IndexedDB) and warm (same context, reloaded).
//
//   (cd client && npm ci && npm run build) && (cd tests/e2e && npm ci)
//   MANIFESTO_BIN=$CARGO_TARGET_DIR/release/manifesto node bench/client-load.mjs [runs]
import fs from 'node:fs'
import path from 'node:path'
import { CLIENT_DIST, launchBrowser, loggedIn, startApp } from '../tests/e2e/harness.mjs'

const runs = Number(process.argv[2] ?? 10)

function sizes () {
  const assets = path.join(CLIENT_DIST, 'assets')
  const total = { js: 0, css: 0, jsRaw: 0, cssRaw: 0 }
  for (const name of fs.readdirSync(assets)) {
    const kind = name.endsWith('.js') ? 'js' : name.endsWith('.css') ? 'css' : null
    if (!kind) continue
    total[`${kind}Raw`] += fs.statSync(path.join(assets, name)).size
    total[kind] += fs.statSync(path.join(assets, `${name}.gz`)).size
  }
  return total
}

function summary (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return `median ${at(0.5).toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms, max ${sorted.at(-1).toFixed(0)} ms`
}

/** Navigates to the demo document and resolves with the ms until its text is editable. */
async function timeToEditable (page, origin) {
  const start = Date.now()
  await page.goto(`${origin}/documents/demo-en`)
  await page.locator('.manuscript[contenteditable="true"] p[data-number="5.3"]').waitFor({ timeout: 30000 })
  return Date.now() - start
}

const app = await startApp(['alice'])
const browser = await launchBrowser()
try {
  const cold = []
  const warm = []
  for (let i = 0; i < runs; i++) {
    const { context, page } = await loggedIn(browser, app.server, 'alice')
    cold.push(await timeToEditable(page, app.server.origin))
    warm.push(await timeToEditable(page, app.server.origin))
    await context.close()
  }
  const s = sizes()
  console.log(`JS ${(s.js / 1024).toFixed(1)} KiB gzip (${(s.jsRaw / 1024).toFixed(1)} KiB raw), CSS ${(s.css / 1024).toFixed(1)} KiB gzip (${(s.cssRaw / 1024).toFixed(1)} KiB raw)`)
  console.log(`time to an editable document, cold (new context, ${runs} runs): ${summary(cold)}`)
  console.log(`time to an editable document, warm (reload, ${runs} runs): ${summary(warm)}`)
} finally {
  await browser.close()
  await app.close()
}
