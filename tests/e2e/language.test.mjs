// The language switch shows French throughout: a secretariat account switches to Français with
// the header's select, then every view (documents, the text, amendments, votes, history,
// management, queue, members, audit log) shows French headings and labels and none of the
// English words each view would otherwise show. The choice is kept on the account: a reload,
// and a log-in from another browser whose own language is English, come back in French.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { api, screenshot, useApp, waitFor } from './harness.mjs'

const app = useApp(['alice', 'bruno', 'olga'], {
  async setup ({ server, admin }) {
    // Something in the history and the audit log: named versions with French names.
    for (const name of ['Texte soumis aux délégations', 'Texte après relecture']) {
      await api(server, 'POST', '/api/documents/demo-fr/versions', { body: { name }, cookie: admin, expect: 201 })
    }
  },
})

/**
 * English words the app shows somewhere (labels, buttons, headings, states, messages), as
 * whole words, case-sensitive: none may remain once the app is in French. Content (the
 * English demo document's title and forum, people's names, emails, the audit log's
 * machine-readable codes) is excluded from the scan.
 */
const ENGLISH = [
  'Log out', 'My queue', 'Audit log', 'Logged in', 'Skip to content', 'Loading', 'Try again', 'Refresh', 'Cancel', 'Save',
  'Show', 'Choose', 'Create', 'Close', 'Search', 'Email', 'Role', 'Deadline', 'Text', 'Outline', 'Who is here', 'Comments',
  'Amendments', 'Amendment', 'History', 'Manage', 'Export', 'Members', 'Member', 'Named versions', 'Compare',
  'Read', 'Open', 'Results', 'Ballots', 'Ballot', 'Propose', 'Paragraph', 'Preamble', 'Untitled', 'changes saved',
  'Move to', 'Reason', 'Kind of action', 'Entries per page', 'Newest', 'Older', 'When', 'Who', 'What', 'Details', 'Invite',
  'One person', 'pasted list', 'Status', 'All', 'Waiting', 'Accepted', 'Deactivate', 'Change the role',
  'the', 'and', 'your', 'You', 'you', 'with', 'of', 'to', 'is', 'are', 'this', 'This', 'No', 'yet', 'none',
]

/** The app's visible and hidden text (every text node, options included), content excluded. */
async function appText (page) {
  return page.evaluate(() => {
    const skip = [
      'script', 'style', '.manuscript', '.lang-switch', 'code',
      // Content: the English demo document's row, people, emails, the audit log's data.
      'tr:has(a[href="/documents/demo-en"])', '.who', '[data-member] td:first-child', '[data-invitation] td:first-child',
      '.audit-table td:nth-child(3)', '.audit-table td:nth-child(5)', '.audit-table td:nth-child(6)', '.presence li',
    ].join(', ')
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    const parts = []
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.parentElement?.closest(skip)) parts.push(node.textContent)
    }
    // Text inside attributes people hear: labels, placeholders, titles.
    for (const el of document.body.querySelectorAll('[aria-label], [placeholder], [title]')) {
      if (el.closest(skip)) continue
      for (const name of ['aria-label', 'placeholder', 'title']) {
        const value = el.getAttribute(name)
        if (value) parts.push(value)
      }
    }
    return parts.join(' \n ')
  })
}

function englishIn (text) {
  return ENGLISH.filter((word) => new RegExp(`(^|[^\\p{L}])${word.replace(/ /g, '\\s+')}(?![\\p{L}])`, 'u').test(text))
}

/** Visits `path`, waits for `ready` (a locator or locators), checks French markers and no English. */
async function visit (page, name, path, ready, markers) {
  await page.goto(`${app.server.origin}${path}`)
  for (const locator of [ready(page)].flat()) await locator.waitFor({ timeout: 10000 })
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr', `${name}: <html lang>`)
  // Whatever the view loads is shown (no “Chargement…” left), so that all of it is read.
  await waitFor(async () => !/Chargement/.test(await appText(page)), 10000, `${name}: loaded`)
  const text = await appText(page)
  for (const marker of markers) assert.ok(text.includes(marker), `${name}: «${marker}» not shown\n${text.slice(0, 2000)}`)
  const left = englishIn(text)
  const context = left.map((word) => {
    const at = text.search(new RegExp(`(^|[^\\p{L}])${word.replace(/ /g, '\\s+')}(?![\\p{L}])`, 'u'))
    return `${word}: …${text.slice(Math.max(0, at - 60), at + 60).replace(/\s+/g, ' ')}…`
  })
  assert.deepEqual(context, [], `${name} (${path}) still shows English`)
}

test('the language switch shows French throughout, and is remembered', async (t) => {
  const { page } = await app.loggedIn(t, 'admin')
  // English first: the test's word list does find English.
  await page.locator('a.document-link').first().waitFor()
  assert.ok(englishIn(await appText(page)).length > 3, 'the English page shows the English words')

  await page.locator('header').getByLabel('Language', { exact: true }).selectOption('fr')
  await page.getByRole('button', { name: 'Se déconnecter' }).waitFor({ timeout: 5000 })
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr')
  // Kept on the account.
  const who = (await api(app.server, 'GET', '/api/session', { cookie: app.admin, expect: 200 })).body
  assert.equal(who.user.language, 'fr')

  const tab = (label) => (p) => p.locator('nav.tabs a[aria-current="page"]', { hasText: label })
  await visit(page, 'documents', '/', (p) => p.locator('a.document-link').first(), ['Afficher les documents archivés', 'Créer un document', 'Mes tâches', 'Journal d’audit'])
  await visit(page, 'text', '/documents/demo-fr', (p) => p.locator('.connection[data-state="saved"]'), ['Plan', 'Présents', 'Toutes les modifications sont enregistrées', 'Commentaires'])
  await screenshot(page, 'editor-fr')
  await visit(page, 'amendments', '/documents/demo-fr/amendments', tab('Amendements'), ['Amendements'])
  await visit(page, 'votes', '/documents/demo-fr/votes', tab('Votes'), ['Votes'])
  await visit(page, 'history', '/documents/demo-fr/history?from=1', (p) => [p.locator('.compare-summary'), p.locator('.version-list li').first(), p.getByRole('button', { name: 'Comparer' })], [
    'Versions nommées',
    'Comparer deux versions',
    'Historique d’un paragraphe',
    'Création du document',
    'Texte après relecture',
    'Modifications de la version 1 au texte actuel',
  ])
  await screenshot(page, 'history-fr')
  await visit(page, 'manage', '/documents/demo-fr/manage', tab('Gérer'), ['Passer à', 'Changer de phase', 'Exporter', 'Règles des amendements'])
  await visit(page, 'queue', '/queue', (p) => p.getByRole('heading', { level: 1, name: 'Mes tâches' }), ['Mes tâches'])
  await visit(page, 'members', '/admin/members', (p) => p.locator('tr[data-member]').first(), [
    'Membres et invitations',
    'Inviter',
    'Adresse électronique',
    'Créer l’invitation',
    'Filtrer par rôle',
    'délégué·e',
  ])
  await screenshot(page, 'members-fr')
  await visit(page, 'audit', '/admin/audit', (p) => p.locator('.audit-table tbody tr').first(), ['Journal d’audit', 'Type d’action', 'Entrées par page', 'Version nommée enregistrée', 'Connexion'])

  // A reload keeps French.
  await page.reload()
  await page.getByRole('heading', { level: 1, name: 'Journal d’audit' }).waitFor({ timeout: 5000 })

  // Another browser, English by its own settings and storage: French once logged in.
  const again = await app.loggedIn(t, 'admin', { lang: 'en' })
  await again.page.getByRole('button', { name: 'Se déconnecter' }).waitFor({ timeout: 5000 })
  await again.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor()
  assert.equal(await again.page.evaluate(() => document.documentElement.lang), 'fr')
  await again.page.getByText('Afficher les documents archivés').waitFor({ timeout: 5000 })
})
