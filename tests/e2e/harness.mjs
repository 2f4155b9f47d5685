// The browser tests' harness: the real server (the binary from MANIFESTO_BIN, a temporary data
// directory, the app's build from client/dist, the demo drafts), accounts made the way people
// join, and Debian's Chromium driven by playwright-core (no browser download).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { ADMIN, Server, api, createAccount, invite, login, makeDataDir, removeDir, setPhase, storedText, waitFor } from '../node/helpers.mjs'

export { ADMIN, api, invite, login, setPhase, storedText, waitFor }

const here = path.dirname(fileURLToPath(import.meta.url))
/** The app's build: client/dist, or MANIFESTO_CLIENT_DIST (a build elsewhere). */
export const CLIENT_DIST = path.resolve(process.env.MANIFESTO_CLIENT_DIST ?? path.resolve(here, '../../client/dist'))
/** Screenshots of the main views, kept as the run's artifacts (look at them). */
export const ARTIFACTS = path.resolve(here, 'artifacts')
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium'

/**
 * Uncaught errors in any page of this test file: each fails the file when its process ends,
 * whatever the assertions said (an exception in the app is a bug even when the flow goes on).
 */
const pageErrors = []
process.on('exit', () => {
  if (pageErrors.length > 0) {
    console.error(`${pageErrors.length} uncaught error(s) in the app's pages:\n${pageErrors.join('\n')}`)
    process.exitCode = 1
  }
})

export const PEOPLE = Object.freeze({
  alice: { email: 'alice@example.org', name: 'Alice Martin', role: 'delegate', password: 'alice long passphrase' },
  bruno: { email: 'bruno@example.org', name: 'Bruno Keller', role: 'delegate', password: 'bruno long passphrase' },
  olga: { email: 'olga@example.org', name: 'Olga Observer', role: 'observer', password: 'olga long passphrase' },
})

/**
 * Starts the server with the demo drafts and the app, and creates the accounts in `people`
 * (keys of PEOPLE). Returns `{ server, admin: cookie, close() }`.
 */
export async function startApp (people = ['alice', 'bruno']) {
  if (!fs.existsSync(path.join(CLIENT_DIST, 'index.html'))) {
    throw new Error(`no build of the app in ${CLIENT_DIST}: run \`npm ci && npm run build\` in client/`)
  }
  const dataDir = makeDataDir()
  const server = await Server.start(dataDir, { args: ['--client-dir', CLIENT_DIST, '--demo'] })
  const admin = await login(server, ADMIN.email, ADMIN.password)
  for (const key of people) {
    const person = PEOPLE[key]
    await createAccount(server, admin, person)
  }
  return {
    server,
    admin,
    async close () {
      await server.stop()
      removeDir(dataDir)
    },
  }
}

/** Headless Debian Chromium with the flags this machine needs (no background networking). */
export function launchBrowser () {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}

/**
 * The test file's app and browser: registers the hooks that start them (`startApp(people)`,
 * `launchBrowser()`) before its first test and stop them after its last. Returns an object
 * they fill in: `server`, `admin` (the secretariat's cookie), `browser`, and the helpers
 * below, whose browser contexts are closed when the test `t` ends, passed or failed.
 * `setup(app)`, if given, runs once both are started (a second top-level `before` hook
 * would not wait for them).
 */
export function useApp (people, { setup } = {}) {
  let started
  const app = {
    server: undefined,
    admin: undefined,
    browser: undefined,
    /** `loggedIn(app.browser, app.server, who, options)`, closed at the end of `t`. */
    async loggedIn (t, who, options) {
      const session = await loggedIn(app.browser, app.server, who, options)
      t.after(() => session.context.close())
      return session
    },
    /** A page in a new context with no one logged in, closed at the end of `t`. */
    async anonymous (t, options) {
      const session = await newPage(app.browser, 'anonymous', options)
      t.after(() => session.context.close())
      return session
    },
  }
  before(async () => {
    started = await startApp(people)
    app.server = started.server
    app.admin = started.admin
    app.browser = await launchBrowser()
    await setup?.(app)
  })
  after(async () => {
    await app.browser?.close()
    await started?.close()
  })
  return app
}

/**
 * A page in a new browser context (its own cookies and storage) whose uncaught errors fail
 * the test file (`label` names it in the report). Returns `{ context, page }`.
 */
export async function newPage (browser, label, { viewport = { width: 1280, height: 800 }, lang = 'en' } = {}) {
  const context = await browser.newContext({ viewport, locale: lang === 'fr' ? 'fr-FR' : 'en-GB' })
  const page = await context.newPage()
  page.on('pageerror', (error) => {
    console.error(`[${label}] page error:`, error)
    pageErrors.push(`[${label}] ${error.stack ?? error}`)
  })
  return { context, page }
}

/**
 * A new page (see `newPage`) logged in through the app's login form as `who` ('admin' or a
 * key of PEOPLE). Returns `{ context, page }` on the documents list.
 */
export async function loggedIn (browser, server, who, options) {
  const person = who === 'admin' ? ADMIN : PEOPLE[who]
  const { context, page } = await newPage(browser, who, options)
  await page.goto(`${server.origin}/login`)
  await page.getByLabel(/^(Email|Adresse électronique)$/).fill(person.email)
  await page.getByLabel(/^(Password|Mot de passe)$/).fill(person.password)
  await page.getByRole('button', { name: /^(Log in|Se connecter)$/ }).click()
  await page.waitForURL(`${server.origin}/`)
  return { context, page }
}

/** Opens a document's page (a tab of it); on the Text tab, waits until the text shows. */
export async function openDocument (page, server, id, tab = '') {
  await page.goto(`${server.origin}/documents/${id}${tab ? `/${tab}` : ''}`)
  if (!tab) await page.locator('.manuscript p').first().waitFor()
}

/** The paragraph with this number in the margin (e.g. "1.2"). */
export function paragraph (page, number) {
  return page.locator(`.manuscript p[data-number="${number}"]`)
}

/** Puts the caret at the start of a paragraph's text (click, then Home on its first line). */
export async function caretAtStart (page, number) {
  await paragraph(page, number).click({ position: { x: 2, y: 8 } })
  await page.keyboard.press('Home')
}

/** Saves a screenshot as an artifact: tests/e2e/artifacts/<name>.png. */
export async function screenshot (page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false })
}

/**
 * Runs the axe-core audit on the page; returns the serious and critical violations, each as
 * `{ id, impact, help, nodes: [selectors] }`.
 */
export async function audit (page) {
  await page.addScriptTag({ path: path.resolve(here, 'node_modules/axe-core/axe.min.js') })
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    return await axe.run(document, { resultTypes: ['violations'] })
  })
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }))
}

/** Fails unless the axe-core audit of the page finds no serious or critical violation. */
export async function assertAccessible (page, where) {
  const violations = await audit(page)
  assert.deepEqual(violations, [], `${where}: ${JSON.stringify(violations, null, 2)}`)
}
