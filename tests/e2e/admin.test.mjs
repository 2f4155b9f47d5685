// The secretariat's members page in a real browser: invite a delegate and open the link in a
// fresh browser, where the invitee chooses a password and lands logged in; change a role;
// deactivate someone; the last secretariat account cannot be demoted (and the page says why);
// a pasted list is checked line by line, the bad line reported, the others invited; a new
// link replaces the old one; an invitation is revoked.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ADMIN, PEOPLE, api, screenshot, useApp, waitFor } from './harness.mjs'

const app = useApp(['alice', 'bruno'])

const users = async () => (await api(app.server, 'GET', '/api/users', { cookie: app.admin, expect: 200 })).body
const invitations = async () => (await api(app.server, 'GET', '/api/invitations', { cookie: app.admin, expect: 200 })).body
const userByEmail = async (email) => (await users()).find((u) => u.email === email)

/** The link shown for `email` on the members page (each link is shown once, here). */
async function shownLink (page, email) {
  const input = page.getByLabel(`Invitation link for ${email}`, { exact: true })
  await input.waitFor({ timeout: 5000 })
  const link = await input.inputValue()
  assert.ok(link.startsWith(`${app.server.origin}/invite#`), `link for ${email}: ${link}`)
  return link
}

/** The secretariat's members page, for the test `t`. */
async function membersPage (t) {
  const { page } = await app.loggedIn(t, 'admin')
  await page.goto(`${app.server.origin}/admin/members`)
  return page
}

test('the secretariat invites a delegate, who joins through the link in a fresh browser', async (t) => {
  const { page } = await app.loggedIn(t, 'admin')
  await page.getByRole('link', { name: 'Members', exact: true }).click()
  await page.waitForURL(`${app.server.origin}/admin/members`)
  await page.getByRole('heading', { level: 1, name: 'Members and invitations' }).waitFor()

  const form = page.locator('form.invite-one')
  await form.getByLabel('Email', { exact: true }).fill('dana@example.org')
  await form.getByLabel(/^Role/).selectOption('delegate')
  await form.getByLabel('Organisation (optional)').fill('Geneva Youth Forum')
  await form.getByLabel('Country (optional)').fill('Switzerland')
  await form.getByRole('button', { name: 'Create the invitation' }).click()
  const link = await shownLink(page, 'dana@example.org')
  // The links card takes the focus, so that a keyboard user lands on the link.
  await waitFor(() => page.evaluate(() => document.activeElement?.id === 'links-title'), 3000, 'focus on the links card')
  // The invitation is listed as waiting.
  await page.locator('tr[data-invitation][data-email="dana@example.org"][data-status="pending"]').waitFor({ timeout: 5000 })
  await screenshot(page, 'members')

  // A fresh browser (no cookie) opens the link.
  const { page: guest } = await app.anonymous(t)
  await guest.goto(link)
  await guest.getByText('You are invited as delegate with the address dana@example.org').waitFor({ timeout: 5000 })
  await guest.getByLabel('Your name, as others will see it').fill('Dana Weiss')
  await guest.getByLabel('Choose a password').fill('dana long passphrase')
  await guest.getByLabel('Type it again').fill('dana long passphrase')
  await guest.getByRole('button', { name: 'Create my account' }).click()
  await guest.waitForURL(`${app.server.origin}/`, { timeout: 10000 })
  await guest.getByText('Logged in as Dana Weiss (delegate)').waitFor({ timeout: 5000 })
  await guest.getByRole('heading', { level: 1, name: 'Documents' }).waitFor()
  await guest.locator('a.document-link').first().waitFor({ timeout: 5000 })

  // The secretariat's page follows live: Dana is a member, her invitation accepted.
  await page.locator('tr[data-member][data-email="dana@example.org"]').waitFor({ timeout: 5000 })
  await page.locator('tr[data-invitation][data-email="dana@example.org"][data-status="accepted"]').waitFor({ timeout: 5000 })
  const dana = await userByEmail('dana@example.org')
  assert.equal(dana.role, 'delegate')
  assert.equal(dana.name, 'Dana Weiss')
  assert.equal(dana.organisation, 'Geneva Youth Forum')
  assert.equal(dana.country, 'Switzerland')

  // The link worked once.
  const secret = link.slice(link.indexOf('#') + 1)
  const again = await api(app.server, 'POST', '/api/invitations/preview', { body: { token: secret } })
  assert.equal(again.status, 410, JSON.stringify(again.body))

  // Deactivating Dana ends her session: two steps, the confirmation taking the focus.
  const member = page.locator('tr[data-member][data-email="dana@example.org"]')
  await member.getByRole('button', { name: 'Deactivate the account of Dana Weiss' }).click()
  const confirm = member.getByRole('button', { name: 'Yes, deactivate' })
  await waitFor(() => confirm.evaluate((el) => el === document.activeElement), 3000, 'focus on the confirmation')
  await confirm.click()
  await member.getByText('The account of Dana Weiss is deactivated.').waitFor({ timeout: 5000 })
  await page.locator('tr[data-member][data-email="dana@example.org"][data-active="false"]').waitFor({ timeout: 5000 })
  assert.equal((await userByEmail('dana@example.org')).active, false)
  await guest.reload()
  await guest.waitForURL(/\/login/, { timeout: 5000 })

  // Reactivated, she can log in again.
  await member.getByRole('button', { name: 'Reactivate the account of Dana Weiss' }).click()
  await page.locator('tr[data-member][data-email="dana@example.org"][data-active="true"]').waitFor({ timeout: 5000 })
  assert.equal((await userByEmail('dana@example.org')).active, true)
  await guest.getByLabel('Email').fill('dana@example.org')
  await guest.getByLabel('Password').fill('dana long passphrase')
  await guest.getByRole('button', { name: 'Log in' }).click()
  await guest.getByText('Logged in as Dana Weiss (delegate)').waitFor({ timeout: 5000 })
})

test('the secretariat changes a role; the last secretariat account cannot be demoted', async (t) => {
  const page = await membersPage(t)
  const alice = page.locator('tr[data-member][data-email="alice@example.org"]')
  await alice.waitFor({ timeout: 5000 })
  await alice.getByLabel('Role of Alice Martin').selectOption('observer')
  await alice.getByRole('button', { name: 'Change the role of Alice Martin' }).click()
  await alice.getByText('Alice Martin is now observer.').waitFor({ timeout: 5000 })
  assert.equal((await userByEmail(PEOPLE.alice.email)).role, 'observer')

  // Only one secretariat account: demoting it is refused, and explained.
  const self = page.locator(`tr[data-member][data-email="${ADMIN.email}"]`)
  await self.getByLabel(/^Role of /).selectOption('delegate')
  await self.getByRole('button', { name: /^Change the role of / }).click()
  const alert = self.getByRole('alert')
  await alert.waitFor({ timeout: 5000 })
  assert.match(await alert.innerText(), /must keep at least one active secretariat account/)
  assert.equal((await userByEmail(ADMIN.email)).role, 'secretariat')
  // The select went back to the role the account still has.
  assert.equal(await self.getByLabel(/^Role of /).inputValue(), 'secretariat')

  // Deactivating it is refused too.
  await self.getByRole('button', { name: /^Deactivate the account of / }).click()
  await self.getByRole('button', { name: 'Yes, deactivate' }).click()
  await waitFor(async () => /must keep at least one active secretariat account/.test(await self.getByRole('alert').innerText()), 5000, 'the last_secretariat explanation')
  assert.equal((await userByEmail(ADMIN.email)).active, true)
})

test('a pasted list is checked line by line, the bad line reported, the others invited', async (t) => {
  const page = await membersPage(t)
  await page.getByLabel('A pasted list').check()
  await page.getByLabel('People to invite, one per line').fill(
    [
      'email, role, name',
      'eli@example.org, observer, Eli Sand',
      'not-an-email, delegate',
      'fay@example.org\tdélégué\tFay Ng\tUNHCR\tKenya',
      'bruno@example.org, delegate',
    ].join('\n'),
  )
  await page.getByRole('button', { name: 'Check the list' }).click()
  const preview = page.locator('.list-preview')
  await preview.getByText('3 invitations ready; 1 line with a problem will not be sent.').waitFor({ timeout: 3000 })
  const bad = preview.locator('tr[data-line="3"]')
  assert.match(await bad.innerText(), /this is not an email address/)
  assert.match(await preview.locator('tr[data-line="4"]').innerText(), /Fay Ng, UNHCR, Kenya/)

  await preview.getByRole('button', { name: 'Send 3 invitations' }).click()
  await preview.getByText('Invitations created: 2. Lines not sent: 2; they are left in the box, to fix.').waitFor({ timeout: 10000 })
  // Bruno is already a member: the server's refusal is explained on his line.
  assert.match(await preview.locator('tr[data-line="5"]').innerText(), /already a member, or already invited/)
  await shownLink(page, 'eli@example.org')
  const fayLink = await shownLink(page, 'fay@example.org')
  // What was not sent stays in the box, to fix.
  const left = await page.getByLabel('People to invite, one per line').inputValue()
  assert.equal(left, ['email, role, name', 'not-an-email, delegate', 'bruno@example.org, delegate'].join('\n'))

  const listed = await invitations()
  const eli = listed.find((i) => i.email === 'eli@example.org')
  const fay = listed.find((i) => i.email === 'fay@example.org')
  assert.equal(eli?.role, 'observer')
  assert.equal(eli?.name, 'Eli Sand')
  assert.deepEqual([fay?.role, fay?.name, fay?.organisation, fay?.country], ['delegate', 'Fay Ng', 'UNHCR', 'Kenya'])
  assert.equal(listed.some((i) => i.email === 'not-an-email'), false)

  // A new link for Fay: shown once, the old one stops working.
  const fayRow = page.locator('tr[data-invitation][data-email="fay@example.org"]')
  await fayRow.getByRole('button', { name: 'Make a new link for fay@example.org' }).click()
  await waitFor(async () => (await page.getByLabel('Invitation link for fay@example.org', { exact: true }).inputValue()) !== fayLink, 5000, 'a new link for Fay')
  const oldSecret = fayLink.slice(fayLink.indexOf('#') + 1)
  const old = await api(app.server, 'POST', '/api/invitations/preview', { body: { token: oldSecret } })
  assert.ok([404, 410].includes(old.status), `the old link still works: ${old.status}`)
  await fayRow.getByText('Links issued: 2').waitFor({ timeout: 5000 })

  // Eli's invitation is revoked.
  const eliRow = page.locator('tr[data-invitation][data-email="eli@example.org"]')
  await eliRow.getByRole('button', { name: 'Revoke the invitation of eli@example.org' }).click()
  await eliRow.getByRole('button', { name: 'Yes, revoke' }).click()
  await page.locator('tr[data-invitation][data-email="eli@example.org"][data-status="revoked"]').waitFor({ timeout: 5000 })
  assert.equal((await invitations()).find((i) => i.email === 'eli@example.org')?.status, 'revoked')
  await screenshot(page, 'members-list')
})
