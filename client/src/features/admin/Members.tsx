// The secretariat's members page: invite people (one, or a pasted list), copy the links the
// server makes (it sends no email, and shows each link once), follow and manage the
// invitations (revoke, or resend: a new link), and manage the members (role, deactivate,
// reactivate). The forum always keeps one active secretariat account: the server refuses to
// demote or deactivate the last one (409 `last_secretariat`), and this page says why.
import type { RefObject } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiFailure } from '../../api/client'
import type { DocumentView, InvitationView, IssuedInvitation, MemberView, Role } from '../../api/types'
import { EventFeed } from '../../document/events'
import { dateTime, messages, num } from '../../i18n'
import { me } from '../../session'
import { ErrorText, useAction } from '../../ui/action'
import { announce } from '../../ui/announce'
import { errorText, roleName } from '../../ui/common'
import { parseInvitationList, ROLES, type LineProblem, type ListLine } from './invitationList'

const t = messages({
  en: {
    title: 'Members and invitations',
    intro: 'Manifesto sends no email: invite people here, then send each of them their link yourself.',
    refresh: 'Refresh',
    // Inviting
    invite_title: 'Invite',
    invite_how: 'Who to invite',
    invite_one: 'One person',
    invite_list: 'A pasted list',
    email: 'Email',
    role: 'Role',
    name: 'Name (optional: the invitee chooses it otherwise)',
    organisation: 'Organisation (optional)',
    country: 'Country (optional)',
    days: 'Link valid for (days, 1 to 90; default 7)',
    invite_submit: 'Create the invitation',
    inviting: 'Creating…',
    invited: 'Invitation created for {email}: copy the link below and send it.',
    list_label: 'People to invite, one per line',
    list_hint:
      'Each line: an email and a role (delegate, observer or secretariat), then optionally a name, an organisation and a country, separated by commas, semicolons or tabs (columns pasted from a spreadsheet). For example: ana@example.org, delegate, Ana Lima, IPU, Brazil',
    default_role: 'Role for lines without one',
    default_role_none: 'none: report those lines',
    check: 'Check the list',
    preview_title: 'What will be sent',
    preview_table: 'The lines checked',
    preview_summary: '{ok} invitations ready; {bad} lines with problems will not be sent.',
    preview_summary_ok: '{ok} invitations ready.',
    preview_summary_ok_one: '1 invitation ready.',
    preview_bad_one: '{ok} invitations ready; 1 line with a problem will not be sent.',
    preview_bad_one_ok_one: '1 invitation ready; 1 line with a problem will not be sent.',
    preview_ok_one: '1 invitation ready; {bad} lines with problems will not be sent.',
    preview_empty: 'The list is empty.',
    col_line: 'Line',
    col_email: 'Email',
    col_role: 'Role',
    col_details: 'Name, organisation, country',
    col_check: 'Check',
    line_ok: 'ready',
    send_all: 'Send {count} invitations',
    send_one: 'Send 1 invitation',
    sending: 'Creating invitation {done} of {count}…',
    sent_summary: 'Invitations created: {sent}. Lines not sent: {failed}; they are left in the box, to fix.',
    sent_ok: 'sent',
    problem_no_email: 'no email',
    problem_bad_email: 'this is not an email address',
    problem_bad_role: 'unknown role (delegate, observer or secretariat)',
    problem_no_role: 'no role',
    problem_duplicate: 'this email is already on an earlier line',
    problem_name_too_long: 'name longer than 100 characters',
    problem_organisation_too_long: 'organisation longer than 200 characters',
    problem_country_too_long: 'country longer than 64 characters',
    problem_too_many_columns: 'too many columns (at most 5)',
    email_taken: 'already a member, or already invited: resend their invitation instead',
    // Links
    links_title: 'Links to send',
    links_warning: 'Each link is shown only here and only once: copy it now and send it to the person. It works once.',
    link_for: 'Invitation link for {email}',
    link_meta: '{role} · valid until {date}',
    link_resent: 'new link; the previous one no longer works',
    copy: 'Copy',
    copy_label: 'Copy the link for {email}',
    copied: 'Link copied.',
    copy_failed: 'Copying failed: select the link and copy it yourself.',
    copy_all: 'Copy all (email and link, one per line)',
    all_copied: '{count} links copied.',
    hide_links: 'I have sent them: hide the links',
    links_ready: '{count} new links ready to copy.',
    links_ready_one: 'A new link is ready to copy.',
    // Invitations
    invitations_title: 'Invitations',
    status_filter: 'Filter by status',
    all: 'All',
    all_members: 'All',
    status_pending: 'Waiting',
    status_accepted: 'Accepted',
    status_expired: 'Expired',
    status_revoked: 'Revoked',
    search_invitations: 'Search the invitations',
    search_members: 'Search the members',
    search_hint: 'name, email, organisation',
    invitations_none: 'No invitation matches.',
    col_person: 'Person',
    col_status: 'Status',
    col_actions: 'Actions',
    pending_until: 'link valid until {date}',
    expired_on: 'expired on {date}',
    accepted_on: 'accepted on {date}',
    revoked_on: 'revoked on {date}',
    resend: 'New link',
    resend_label: 'Make a new link for {email}',
    resent: 'New link made for {email}: copy it below. The previous link no longer works.',
    revoke: 'Revoke',
    revoke_label: 'Revoke the invitation of {email}',
    revoke_confirm: 'Revoke the invitation of {email}? Its link stops working.',
    revoke_yes: 'Yes, revoke',
    revoked: 'The invitation of {email} is revoked.',
    show_more: 'Show {count} more',
    showing: 'Showing {shown} of {total}.',
    // Members
    members_title: 'Members',
    members_none: 'No member matches.',
    role_filter: 'Filter by role',
    active_filter: 'Filter by account status',
    active_only: 'Active',
    inactive_only: 'Deactivated',
    col_member: 'Member',
    col_account: 'Account',
    you: '(you)',
    active: 'active',
    inactive: 'deactivated',
    since: 'member since {date}',
    role_of: 'Role of {name}',
    change_role: 'Change the role',
    change_role_label: 'Change the role of {name}',
    role_changed: '{name} is now {role}.',
    deactivate: 'Deactivate',
    deactivate_label: 'Deactivate the account of {name}',
    deactivate_confirm: 'Deactivate {name}? Their sessions end at once and they can no longer log in, until reactivated.',
    deactivate_self: 'This is your own account: you will be logged out at once.',
    deactivate_yes: 'Yes, deactivate',
    deactivated: 'The account of {name} is deactivated.',
    reactivate: 'Reactivate',
    reactivate_label: 'Reactivate the account of {name}',
    reactivated: 'The account of {name} is active again.',
    last_secretariat:
      'The forum must keep at least one active secretariat account: {name} is the last one. Make another member secretariat first, then try again.',
    joined: '{name} joined the forum.',
    links_issued: 'Links issued: {count}',
    cancel: 'Cancel',
  },
  fr: {
    title: 'Membres et invitations',
    intro: 'Manifesto n’envoie aucun courriel : invitez les personnes ici, puis envoyez vous-même à chacune son lien.',
    refresh: 'Actualiser',
    invite_title: 'Inviter',
    invite_how: 'Qui inviter',
    invite_one: 'Une personne',
    invite_list: 'Une liste collée',
    email: 'Adresse électronique',
    role: 'Rôle',
    name: 'Nom (facultatif : sinon la personne le choisit)',
    organisation: 'Organisation (facultative)',
    country: 'Pays (facultatif)',
    days: 'Durée de validité du lien (jours, de 1 à 90 ; 7 par défaut)',
    invite_submit: 'Créer l’invitation',
    inviting: 'Création…',
    invited: 'Invitation créée pour {email} : copiez le lien ci-dessous et envoyez-le.',
    list_label: 'Personnes à inviter, une par ligne',
    list_hint:
      'Chaque ligne : une adresse et un rôle (délégué, observateur ou secrétariat), puis, si vous le souhaitez, un nom, une organisation et un pays, séparés par des virgules, des points-virgules ou des tabulations (colonnes collées d’un tableur). Par exemple : ana@example.org, délégué, Ana Lima, UIP, Brésil',
    default_role: 'Rôle des lignes qui n’en ont pas',
    default_role_none: 'aucun : signaler ces lignes',
    check: 'Vérifier la liste',
    preview_title: 'Ce qui sera envoyé',
    preview_table: 'Les lignes vérifiées',
    preview_summary: '{ok} invitations prêtes ; {bad} lignes comportent des problèmes et ne seront pas envoyées.',
    preview_summary_ok: '{ok} invitations prêtes.',
    preview_summary_ok_one: '1 invitation prête.',
    preview_bad_one: '{ok} invitations prêtes ; 1 ligne comporte un problème et ne sera pas envoyée.',
    preview_bad_one_ok_one: '1 invitation prête ; 1 ligne comporte un problème et ne sera pas envoyée.',
    preview_ok_one: '1 invitation prête ; {bad} lignes comportent des problèmes et ne seront pas envoyées.',
    preview_empty: 'La liste est vide.',
    col_line: 'Ligne',
    col_email: 'Adresse',
    col_role: 'Rôle',
    col_details: 'Nom, organisation, pays',
    col_check: 'Vérification',
    line_ok: 'prête',
    send_all: 'Envoyer {count} invitations',
    send_one: 'Envoyer 1 invitation',
    sending: 'Création de l’invitation {done} sur {count}…',
    sent_summary: 'Invitations créées : {sent}. Lignes non envoyées : {failed} ; elles restent dans la zone de saisie, à corriger.',
    sent_ok: 'envoyée',
    problem_no_email: 'pas d’adresse',
    problem_bad_email: 'ce n’est pas une adresse électronique',
    problem_bad_role: 'rôle inconnu (délégué, observateur ou secrétariat)',
    problem_no_role: 'pas de rôle',
    problem_duplicate: 'cette adresse figure déjà sur une ligne précédente',
    problem_name_too_long: 'nom de plus de 100 caractères',
    problem_organisation_too_long: 'organisation de plus de 200 caractères',
    problem_country_too_long: 'pays de plus de 64 caractères',
    problem_too_many_columns: 'trop de colonnes (5 au plus)',
    email_taken: 'déjà membre ou déjà invité·e : renvoyez plutôt son invitation',
    links_title: 'Liens à envoyer',
    links_warning: 'Chaque lien n’est affiché qu’ici et une seule fois : copiez-le maintenant et envoyez-le à la personne. Il ne sert qu’une fois.',
    link_for: 'Lien d’invitation pour {email}',
    link_meta: '{role} · valable jusqu’au {date}',
    link_resent: 'nouveau lien ; le précédent ne fonctionne plus',
    copy: 'Copier',
    copy_label: 'Copier le lien pour {email}',
    copied: 'Lien copié.',
    copy_failed: 'La copie a échoué : sélectionnez le lien et copiez-le vous-même.',
    copy_all: 'Tout copier (adresse et lien, un par ligne)',
    all_copied: '{count} liens copiés.',
    hide_links: 'Je les ai envoyés : masquer les liens',
    links_ready: '{count} nouveaux liens prêts à copier.',
    links_ready_one: 'Un nouveau lien est prêt à copier.',
    invitations_title: 'Invitations',
    status_filter: 'Filtrer par état',
    all: 'Toutes',
    all_members: 'Tous',
    status_pending: 'En attente',
    status_accepted: 'Acceptée',
    status_expired: 'Expirée',
    status_revoked: 'Révoquée',
    search_invitations: 'Rechercher une invitation',
    search_members: 'Rechercher un membre',
    search_hint: 'nom, adresse, organisation',
    invitations_none: 'Aucune invitation ne correspond.',
    col_person: 'Personne',
    col_status: 'État',
    col_actions: 'Actions',
    pending_until: 'lien valable jusqu’au {date}',
    expired_on: 'expirée le {date}',
    accepted_on: 'acceptée le {date}',
    revoked_on: 'révoquée le {date}',
    resend: 'Nouveau lien',
    resend_label: 'Créer un nouveau lien pour {email}',
    resent: 'Nouveau lien créé pour {email} : copiez-le ci-dessous. Le lien précédent ne fonctionne plus.',
    revoke: 'Révoquer',
    revoke_label: 'Révoquer l’invitation de {email}',
    revoke_confirm: 'Révoquer l’invitation de {email} ? Son lien cessera de fonctionner.',
    revoke_yes: 'Oui, révoquer',
    revoked: 'L’invitation de {email} est révoquée.',
    show_more: 'En afficher {count} de plus',
    showing: '{shown} affichées sur {total}.',
    members_title: 'Membres',
    members_none: 'Aucun membre ne correspond.',
    role_filter: 'Filtrer par rôle',
    active_filter: 'Filtrer par état du compte',
    active_only: 'Actifs',
    inactive_only: 'Désactivés',
    col_member: 'Membre',
    col_account: 'Compte',
    you: '(vous)',
    active: 'actif',
    inactive: 'désactivé',
    since: 'membre depuis le {date}',
    role_of: 'Rôle de {name}',
    change_role: 'Changer le rôle',
    change_role_label: 'Changer le rôle de {name}',
    role_changed: '{name} a désormais le rôle « {role} ».',
    deactivate: 'Désactiver',
    deactivate_label: 'Désactiver le compte de {name}',
    deactivate_confirm: 'Désactiver {name} ? Ses sessions prennent fin aussitôt et la personne ne peut plus se connecter, jusqu’à sa réactivation.',
    deactivate_self: 'C’est votre propre compte : vous serez déconnecté·e aussitôt.',
    deactivate_yes: 'Oui, désactiver',
    deactivated: 'Le compte de {name} est désactivé.',
    reactivate: 'Réactiver',
    reactivate_label: 'Réactiver le compte de {name}',
    reactivated: 'Le compte de {name} est de nouveau actif.',
    last_secretariat:
      'Le forum doit garder au moins un compte actif du secrétariat : {name} est le dernier. Donnez d’abord le rôle « secrétariat » à un autre membre, puis réessayez.',
    joined: '{name} a rejoint le forum.',
    links_issued: 'Liens émis : {count}',
    cancel: 'Annuler',
  },
})

/** A link the server made, shown once. */
interface IssuedLink {
  key: string
  email: string
  role: Role
  link: string
  expiresAt: string
  resent: boolean
}

const issuedLink = (issued: IssuedInvitation, resent: boolean): IssuedLink => ({
  key: `${issued.invitation.id}-${issued.invitation.n_links}`,
  email: issued.invitation.email,
  role: issued.invitation.role,
  link: issued.link,
  expiresAt: issued.invitation.expires_at,
  resent,
})

/** An error sentence, with this page's words for the codes it knows. */
function failureText(failure: unknown, name = ''): string {
  if (failure instanceof ApiFailure) {
    if (failure.code === 'last_secretariat') return t('last_secretariat', { name })
    if (failure.code === 'email_taken') return t('email_taken')
  }
  return errorText(failure)
}

const PAGE = 50

export function Members() {
  const [members, setMembers] = useState<MemberView[] | null>(null)
  const [invitations, setInvitations] = useState<InvitationView[] | null>(null)
  const [loadError, setLoadError] = useState('')
  const [links, setLinks] = useState<IssuedLink[]>([])
  const linksHeading = useRef<HTMLHeadingElement>(null)
  const focusLinks = useRef(false)

  async function reload() {
    try {
      const [users, invites] = await Promise.all([api<MemberView[]>('GET', '/api/users'), api<InvitationView[]>('GET', '/api/invitations')])
      setMembers(users)
      setInvitations(invites)
      setLoadError('')
    } catch (failure) {
      setLoadError(errorText(failure))
    }
  }

  useEffect(() => {
    void reload()
  }, [])
  useMemberEvents(reload)

  useEffect(() => {
    if (focusLinks.current && links.length > 0) {
      focusLinks.current = false
      linksHeading.current?.focus()
    }
  }, [links])

  function addLinks(fresh: IssuedLink[]) {
    if (fresh.length === 0) return
    focusLinks.current = true
    setLinks((old) => [...fresh, ...old.filter((l) => !fresh.some((f) => f.email === l.email))])
    announce(fresh.length === 1 ? t('links_ready_one') : t('links_ready', { count: fresh.length }))
    void reload()
  }

  return (
    <section class="page members-page" aria-labelledby="members-page-title">
      <h1 id="members-page-title">{t('title')}</h1>
      <p class="muted">{t('intro')}</p>
      {loadError && (
        <p class="error" role="alert">
          {loadError}{' '}
          <button type="button" onClick={() => void reload()}>
            {t('refresh')}
          </button>
        </p>
      )}
      <InviteCard onIssued={addLinks} />
      {links.length > 0 && <LinksCard links={links} headingRef={linksHeading} onHide={() => setLinks([])} />}
      <InvitationsCard invitations={invitations} onIssued={addLinks} onChanged={reload} />
      <MembersCard members={members} onChanged={reload} />
    </section>
  )
}

/**
 * Member events reach every document that is not archived (there is no forum-wide stream):
 * follow the first such document's events to reload when someone joins or changes.
 */
function useMemberEvents(reload: () => Promise<void>) {
  useEffect(() => {
    let feed: EventFeed | null = null
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    api<DocumentView[]>('GET', '/api/documents')
      .then((documents) => {
        const first = documents.find((d) => d.phase !== 'archived')
        if (!first || stopped) return
        feed = new EventFeed(`/api/documents/${encodeURIComponent(first.id)}/events`)
        feed.on(['member.'], (event) => {
          if (event.kind === 'member.joined' && typeof event.data?.name === 'string') announce(t('joined', { name: event.data.name }))
          // A burst of changes reloads once.
          clearTimeout(timer)
          timer = setTimeout(() => void reload(), 150)
        })
        feed.start()
      })
      .catch(() => {
        /* no live updates: the Refresh button still works */
      })
    return () => {
      stopped = true
      clearTimeout(timer)
      feed?.stop()
    }
  }, [])
}

// ————— Inviting —————

function RoleOptions() {
  return (
    <>
      {ROLES.map((role) => (
        <option key={role} value={role}>
          {roleName(role)}
        </option>
      ))}
    </>
  )
}

function daysValue(text: string): number | null {
  const days = Number(text)
  return text.trim() !== '' && Number.isInteger(days) ? days : null
}

function InviteCard({ onIssued }: { onIssued: (links: IssuedLink[]) => void }) {
  const [mode, setMode] = useState<'one' | 'list'>('one')
  return (
    <section class="card" aria-labelledby="invite-title">
      <h2 id="invite-title">{t('invite_title')}</h2>
      <fieldset class="invite-mode">
        <legend>{t('invite_how')}</legend>
        <label class="inline">
          <input type="radio" name="invite-mode" value="one" checked={mode === 'one'} onChange={() => setMode('one')} />
          {t('invite_one')}
        </label>
        <label class="inline">
          <input type="radio" name="invite-mode" value="list" checked={mode === 'list'} onChange={() => setMode('list')} />
          {t('invite_list')}
        </label>
      </fieldset>
      {mode === 'one' ? <InviteOne onIssued={onIssued} /> : <InviteList onIssued={onIssued} />}
    </section>
  )
}

function InviteOne({ onIssued }: { onIssued: (links: IssuedLink[]) => void }) {
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('delegate')
  const [name, setName] = useState('')
  const [organisation, setOrganisation] = useState('')
  const [country, setCountry] = useState('')
  const [days, setDays] = useState('')
  // Shown, not announced: the links card announces the new link.
  const [done, setDone] = useState('')
  const { run, busy, error } = useAction(failureText)

  async function submit(event: Event) {
    event.preventDefault()
    setDone('')
    await run(async () => {
      const issued = await api<IssuedInvitation>('POST', '/api/invitations', {
        email: email.trim(),
        role,
        name: name.trim() || null,
        organisation: organisation.trim() || null,
        country: country.trim() || null,
        expires_in_days: daysValue(days),
      })
      setDone(t('invited', { email: issued.invitation.email }))
      setEmail('')
      setName('')
      setOrganisation('')
      setCountry('')
      onIssued([issuedLink(issued, false)])
    })
  }

  return (
    <form onSubmit={submit} class="invite-one">
      <div class="field-grid">
        <label>
          {t('email')}
          <input type="email" required autocomplete="off" maxLength={254} value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          {t('role')}
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            <RoleOptions />
          </select>
        </label>
        <label>
          {t('name')}
          <input maxLength={100} autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          {t('organisation')}
          <input maxLength={200} autocomplete="off" value={organisation} onInput={(e) => setOrganisation(e.currentTarget.value)} />
        </label>
        <label>
          {t('country')}
          <input maxLength={64} autocomplete="off" value={country} onInput={(e) => setCountry(e.currentTarget.value)} />
        </label>
        <label>
          {t('days')}
          <input type="number" min={1} max={90} step={1} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        </label>
      </div>
      <ErrorText error={error} />
      {done && (
        <p class="success" role="status">
          {done}
        </p>
      )}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t('inviting') : t('invite_submit')}
      </button>
    </form>
  )
}

function previewSummary(ok: number, bad: number): string {
  if (bad === 0) return ok === 1 ? t('preview_summary_ok_one') : t('preview_summary_ok', { ok: num(ok) })
  if (bad === 1) return ok === 1 ? t('preview_bad_one_ok_one') : t('preview_bad_one', { ok: num(ok) })
  return ok === 1 ? t('preview_ok_one', { bad: num(bad) }) : t('preview_summary', { ok: num(ok), bad: num(bad) })
}

type LineResult = { state: 'sent' } | { state: 'failed'; error: string }

function problemText(problem: LineProblem): string {
  return t(`problem_${problem}`)
}

function InviteList({ onIssued }: { onIssued: (links: IssuedLink[]) => void }) {
  const [text, setText] = useState('')
  const [defaultRole, setDefaultRole] = useState<Role | ''>('delegate')
  const [days, setDays] = useState('')
  const [preview, setPreview] = useState<ListLine[] | null>(null)
  const [results, setResults] = useState<Record<number, LineResult>>({})
  const [progress, setProgress] = useState<{ done: number; count: number } | null>(null)
  const [summary, setSummary] = useState('')
  const previewHeading = useRef<HTMLHeadingElement>(null)
  const focusPreview = useRef(false)
  useEffect(() => {
    if (focusPreview.current && preview) {
      focusPreview.current = false
      previewHeading.current?.focus()
    }
  }, [preview])

  const ready = preview?.filter((line) => line.problems.length === 0 && results[line.line]?.state !== 'sent') ?? []
  const bad = preview?.filter((line) => line.problems.length > 0) ?? []

  function check(event: Event) {
    event.preventDefault()
    setPreview(parseInvitationList(text, defaultRole || null))
    setResults({})
    setSummary('')
    focusPreview.current = true
  }

  async function send() {
    if (!preview) return
    const lines = ready
    const outcome: Record<number, LineResult> = { ...results }
    const issued: IssuedLink[] = []
    setSummary('')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]
      setProgress({ done: i + 1, count: lines.length })
      try {
        const answer = await api<IssuedInvitation>('POST', '/api/invitations', {
          email: line.email,
          role: line.role,
          name: line.name,
          organisation: line.organisation,
          country: line.country,
          expires_in_days: daysValue(days),
        })
        outcome[line.line] = { state: 'sent' }
        issued.push(issuedLink(answer, false))
      } catch (failure) {
        outcome[line.line] = { state: 'failed', error: failureText(failure) }
      }
      setResults({ ...outcome })
    }
    setProgress(null)
    const sent = lines.filter((l) => outcome[l.line]?.state === 'sent').length
    const message = t('sent_summary', { sent: num(sent), failed: num(lines.length - sent + bad.length) })
    setSummary(message)
    // What was not sent stays in the box, to fix and send again.
    const sentLines = new Set(lines.filter((l) => outcome[l.line]?.state === 'sent').map((l) => l.line))
    setText(
      text
        .split(/\r\n|\r|\n/)
        .filter((_, index) => !sentLines.has(index + 1))
        .join('\n')
        .trim(),
    )
    onIssued(issued)
  }

  return (
    <div class="invite-list">
      <form onSubmit={check}>
        <label>
          {t('list_label')}
          <textarea
            rows={8}
            spellcheck={false}
            aria-describedby="list-hint"
            value={text}
            onInput={(e) => {
              setText(e.currentTarget.value)
              if (!progress) setPreview(null)
            }}
          />
        </label>
        <p id="list-hint" class="muted small">
          {t('list_hint')}
        </p>
        <div class="field-grid">
          <label>
            {t('default_role')}
            <select value={defaultRole} onChange={(e) => setDefaultRole(e.currentTarget.value as Role | '')}>
              <RoleOptions />
              <option value="">{t('default_role_none')}</option>
            </select>
          </label>
          <label>
            {t('days')}
            <input type="number" min={1} max={90} step={1} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
          </label>
        </div>
        <button type="submit" disabled={!!progress}>
          {t('check')}
        </button>
      </form>
      {preview && (
        <section class="list-preview" aria-labelledby="preview-title">
          <h3 id="preview-title" tabIndex={-1} ref={previewHeading}>
            {t('preview_title')}
          </h3>
          {preview.length === 0 ? (
            <p>{t('preview_empty')}</p>
          ) : (
            <>
              <p>
                {previewSummary(preview.length - bad.length, bad.length)}
              </p>
              <div class="table-scroll" tabIndex={0} role="region" aria-label={t('preview_table')}>
                <table class="list preview-table stack-table">
                  <thead>
                    <tr>
                      <th scope="col">{t('col_line')}</th>
                      <th scope="col">{t('col_email')}</th>
                      <th scope="col">{t('col_role')}</th>
                      <th scope="col">{t('col_details')}</th>
                      <th scope="col">{t('col_check')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {preview.map((line) => {
                      const result = results[line.line]
                      const problems = line.problems.map(problemText)
                      return (
                        <tr key={line.line} class={problems.length || result?.state === 'failed' ? 'line-bad' : undefined} data-line={line.line}>
                          <td data-label={t('col_line')}>{line.line}</td>
                          <td data-label={t('col_email')} class="break">
                            {line.email || line.raw}
                          </td>
                          <td data-label={t('col_role')}>{line.role ? roleName(line.role) : '—'}</td>
                          <td data-label={t('col_details')}>{[line.name, line.organisation, line.country].filter(Boolean).join(', ') || '—'}</td>
                          <td data-label={t('col_check')}>
                            {problems.length > 0 ? (
                              <span class="error">{problems.join('; ')}</span>
                            ) : result?.state === 'failed' ? (
                              <span class="error">{result.error}</span>
                            ) : result?.state === 'sent' ? (
                              <span class="success">{t('sent_ok')}</span>
                            ) : (
                              t('line_ok')
                            )}
                          </td>
                        </tr>
                      )
                    })}
                  </tbody>
                </table>
              </div>
            </>
          )}
          {progress && (
            <p role="status">{t('sending', { done: num(progress.done), count: num(progress.count) })}</p>
          )}
          {summary && <p role="status">{summary}</p>}
          {ready.length > 0 && (
            <button type="button" class="primary" disabled={!!progress} onClick={() => void send()}>
              {ready.length === 1 ? t('send_one') : t('send_all', { count: num(ready.length) })}
            </button>
          )}
        </section>
      )}
    </div>
  )
}

// ————— Links —————

async function copyText(text: string, input?: HTMLInputElement | HTMLTextAreaElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    if (!input) return false
    input.focus()
    input.select()
    try {
      return document.execCommand('copy')
    } catch {
      return false
    }
  }
}

function LinksCard({ links, headingRef, onHide }: { links: IssuedLink[]; headingRef: RefObject<HTMLHeadingElement>; onHide: () => void }) {
  const [message, setMessage] = useState('')
  return (
    <section class="card links-card" aria-labelledby="links-title">
      <h2 id="links-title" tabIndex={-1} ref={headingRef}>
        {t('links_title')}
      </h2>
      <p class="banner warning-inline">{t('links_warning')}</p>
      <ul class="issued-links">
        {links.map((link) => (
          <IssuedRow key={link.key} link={link} onMessage={setMessage} />
        ))}
      </ul>
      <p role="status" class="small">
        {message}
      </p>
      <div class="actions">
        {links.length > 1 && (
          <button
            type="button"
            onClick={async () => {
              const ok = await copyText(links.map((l) => `${l.email}\t${l.link}`).join('\n'))
              setMessage(ok ? t('all_copied', { count: links.length }) : t('copy_failed'))
            }}
          >
            {t('copy_all')}
          </button>
        )}
        <button type="button" onClick={onHide}>
          {t('hide_links')}
        </button>
      </div>
    </section>
  )
}

function IssuedRow({ link, onMessage }: { link: IssuedLink; onMessage: (text: string) => void }) {
  const input = useRef<HTMLInputElement>(null)
  const id = `link-${link.key}`
  return (
    <li class="issued-link" data-email={link.email}>
      <label for={id}>{t('link_for', { email: link.email })}</label>
      <p class="muted small">
        {t('link_meta', { role: roleName(link.role), date: dateTime(link.expiresAt) })}
        {link.resent && ` · ${t('link_resent')}`}
      </p>
      <div class="copy-row">
        <input id={id} ref={input} readOnly value={link.link} onFocus={(e) => e.currentTarget.select()} />
        <button
          type="button"
          aria-label={t('copy_label', { email: link.email })}
          onClick={async () => onMessage((await copyText(link.link, input.current)) ? t('copied') : t('copy_failed'))}
        >
          {t('copy')}
        </button>
      </div>
    </li>
  )
}

/**
 * A two-step action in a row: the first button asks, a confirm button takes the focus; Cancel
 * gives it back to the first button.
 */
function useConfirm() {
  const [confirming, setConfirming] = useState(false)
  const trigger = useRef<HTMLButtonElement>(null)
  const confirm = useRef<HTMLButtonElement>(null)
  const returnFocus = useRef(false)
  useEffect(() => {
    if (confirming) confirm.current?.focus()
    else if (returnFocus.current) {
      returnFocus.current = false
      trigger.current?.focus()
    }
  }, [confirming])
  return {
    confirming,
    trigger,
    confirm,
    ask: () => setConfirming(true),
    cancel: () => {
      returnFocus.current = true
      setConfirming(false)
    },
    close: () => setConfirming(false),
  }
}

// ————— Invitations —————

const STATUSES = ['pending', 'expired', 'accepted', 'revoked'] as const

function statusText(invitation: InvitationView): string {
  switch (invitation.status) {
    case 'pending':
      return t('pending_until', { date: dateTime(invitation.expires_at) })
    case 'expired':
      return t('expired_on', { date: dateTime(invitation.expires_at) })
    case 'accepted':
      return t('accepted_on', { date: dateTime(invitation.closed_at) })
    case 'revoked':
      return t('revoked_on', { date: dateTime(invitation.closed_at) })
    default:
      return invitation.status
  }
}

function personMatches(search: string, ...fields: (string | null | undefined)[]): boolean {
  const words = search.trim().toLowerCase().split(/\s+/).filter(Boolean)
  const haystack = fields.filter(Boolean).join(' ').toLowerCase()
  return words.every((word) => haystack.includes(word))
}

function SearchField({ label, value, onInput }: { label: string; value: string; onInput: (value: string) => void }) {
  return (
    <label>
      {label}
      <input type="search" placeholder={t('search_hint')} value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    </label>
  )
}

/** How many of a filtered list are shown, and a button for the next page of them. */
function ShowMore({ shown, total, onMore }: { shown: number; total: number; onMore: () => void }) {
  if (total <= shown) return null
  return (
    <p>
      {t('showing', { shown: num(shown), total: num(total) })}{' '}
      <button type="button" onClick={onMore}>
        {t('show_more', { count: num(Math.min(PAGE, total - shown)) })}
      </button>
    </p>
  )
}

function InvitationsCard({
  invitations,
  onIssued,
  onChanged,
}: {
  invitations: InvitationView[] | null
  onIssued: (links: IssuedLink[]) => void
  onChanged: () => Promise<void>
}) {
  const [status, setStatus] = useState('')
  const [search, setSearch] = useState('')
  const [limit, setLimit] = useState(PAGE)
  const list = (invitations ?? [])
    .filter((i) => !status || i.status === status)
    .filter((i) => personMatches(search, i.email, i.name, i.organisation, i.country))
    .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id)
  const shown = list.slice(0, limit)
  return (
    <section class="card" aria-labelledby="invitations-title">
      <h2 id="invitations-title">{t('invitations_title')}</h2>
      <div class="admin-filters">
        <label>
          {t('status_filter')}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">{t('all')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {t(`status_${s}`)}
              </option>
            ))}
          </select>
        </label>
        <SearchField label={t('search_invitations')} value={search} onInput={setSearch} />
      </div>
      {invitations && list.length === 0 && <p class="muted">{t('invitations_none')}</p>}
      {shown.length > 0 && (
        <div class="table-scroll">
          <table class="list invitations-table stack-table">
            <thead>
              <tr>
                <th scope="col">{t('col_person')}</th>
                <th scope="col">{t('col_role')}</th>
                <th scope="col">{t('col_status')}</th>
                <th scope="col">{t('col_actions')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((invitation) => (
                <InvitationRow key={invitation.id} invitation={invitation} onIssued={onIssued} onChanged={onChanged} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ShowMore shown={shown.length} total={list.length} onMore={() => setLimit(limit + PAGE)} />
    </section>
  )
}

function InvitationRow({
  invitation,
  onIssued,
  onChanged,
}: {
  invitation: InvitationView
  onIssued: (links: IssuedLink[]) => void
  onChanged: () => Promise<void>
}) {
  const { run, busy, error } = useAction(failureText)
  const { confirming, trigger, confirm, ask, cancel, close } = useConfirm()
  const email = invitation.email
  const open = invitation.status === 'pending' || invitation.status === 'expired'

  const resend = () =>
    run(async () => {
      const issued = await api<IssuedInvitation>('POST', `/api/invitations/${invitation.id}/resend`, {})
      announce(t('resent', { email }))
      onIssued([issuedLink(issued, true)])
    })

  const revoke = () =>
    run(async () => {
      await api<InvitationView>('DELETE', `/api/invitations/${invitation.id}`)
      close()
      announce(t('revoked', { email }))
      await onChanged()
    })

  return (
    <tr data-invitation={invitation.id} data-email={email} data-status={invitation.status}>
      <td class="break">
        <strong>{email}</strong>
        {(invitation.name || invitation.organisation || invitation.country) && (
          <div class="muted small">{[invitation.name, invitation.organisation, invitation.country].filter(Boolean).join(' · ')}</div>
        )}
      </td>
      <td>{roleName(invitation.role)}</td>
      <td>
        <span class={`member-status status-${invitation.status}`}>{t(`status_${invitation.status as (typeof STATUSES)[number]}`)}</span>
        <div class="muted small">{statusText(invitation)}</div>
        {invitation.n_links > 1 && (
          <div class="muted small">{t('links_issued', { count: num(invitation.n_links) })}</div>
        )}
      </td>
      <td>
        {open && !confirming && (
          <div class="actions">
            <button type="button" disabled={busy} aria-label={t('resend_label', { email })} onClick={() => void resend()}>
              {t('resend')}
            </button>
            {invitation.status === 'pending' && (
              <button
                type="button"
                class="danger"
                ref={trigger}
                disabled={busy}
                aria-label={t('revoke_label', { email })}
                onClick={ask}
              >
                {t('revoke')}
              </button>
            )}
          </div>
        )}
        {confirming && (
          <div class="row-confirm" role="group" aria-labelledby={`revoke-q-${invitation.id}`}>
            <p id={`revoke-q-${invitation.id}`} class="small">
              {t('revoke_confirm', { email })}
            </p>
            <div class="actions">
              <button type="button" class="danger" ref={confirm} disabled={busy} onClick={() => void revoke()}>
                {t('revoke_yes')}
              </button>
              <button type="button" disabled={busy} onClick={cancel}>
                {t('cancel')}
              </button>
            </div>
          </div>
        )}
        <ErrorText error={error} small />
      </td>
    </tr>
  )
}

// ————— Members —————

function MembersCard({ members, onChanged }: { members: MemberView[] | null; onChanged: () => Promise<void> }) {
  const [search, setSearch] = useState('')
  const [role, setRole] = useState('')
  const [active, setActive] = useState('')
  const [limit, setLimit] = useState(PAGE)
  const list = (members ?? [])
    .filter((m) => !role || m.role === role)
    .filter((m) => !active || (active === 'active') === m.active)
    .filter((m) => personMatches(search, m.name, m.email, m.organisation, m.country))
    .sort((a, b) => a.name.localeCompare(b.name))
  const shown = list.slice(0, limit)
  return (
    <section class="card" aria-labelledby="members-title">
      <h2 id="members-title">
        {t('members_title')} {members && <span class="badge">{num(members.length)}</span>}
      </h2>
      <div class="admin-filters">
        <SearchField label={t('search_members')} value={search} onInput={setSearch} />
        <label>
          {t('role_filter')}
          <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="">{t('all_members')}</option>
            <RoleOptions />
          </select>
        </label>
        <label>
          {t('active_filter')}
          <select value={active} onChange={(e) => setActive(e.currentTarget.value)}>
            <option value="">{t('all_members')}</option>
            <option value="active">{t('active_only')}</option>
            <option value="inactive">{t('inactive_only')}</option>
          </select>
        </label>
      </div>
      {members && list.length === 0 && <p class="muted">{t('members_none')}</p>}
      {shown.length > 0 && (
        <div class="table-scroll">
          <table class="list members-table stack-table">
            <thead>
              <tr>
                <th scope="col">{t('col_member')}</th>
                <th scope="col">{t('col_role')}</th>
                <th scope="col">{t('col_account')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((member) => (
                <MemberRow key={member.id} member={member} onChanged={onChanged} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ShowMore shown={shown.length} total={list.length} onMore={() => setLimit(limit + PAGE)} />
    </section>
  )
}

function MemberRow({ member, onChanged }: { member: MemberView; onChanged: () => Promise<void> }) {
  const [role, setRole] = useState<Role>(member.role)
  const { run, busy, error, done } = useAction((failure) => failureText(failure, member.name))
  const { confirming, trigger, confirm, ask, cancel, close } = useConfirm()
  const self = me.value?.id === member.id
  const name = member.name
  useEffect(() => setRole(member.role), [member.role])

  async function change(body: { role?: Role; active?: boolean }, message: (after: MemberView) => string) {
    const changed = await run(async () => {
      const after = await api<MemberView>('PATCH', `/api/users/${member.id}`, body)
      close()
      if (self) me.value = after
      await onChanged()
      return message(after)
    })
    if (!changed) setRole(member.role)
  }

  return (
    <tr data-member={member.id} data-email={member.email} data-active={String(member.active)} class={member.active ? undefined : 'inactive'}>
      <td class="break">
        <strong>{name}</strong> {self && <span class="muted">{t('you')}</span>}
        <div class="small">{member.email}</div>
        {(member.organisation || member.country) && <div class="muted small">{[member.organisation, member.country].filter(Boolean).join(' · ')}</div>}
        <div class="muted small">{t('since', { date: dateTime(member.created_at) })}</div>
      </td>
      <td>
        <form
          class="role-form"
          onSubmit={(event) => {
            event.preventDefault()
            if (role !== member.role) void change({ role }, (after) => t('role_changed', { name, role: roleName(after.role) }))
          }}
        >
          <select aria-label={t('role_of', { name })} value={role} disabled={busy} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            <RoleOptions />
          </select>
          {role !== member.role && (
            <button type="submit" class="primary" disabled={busy} aria-label={t('change_role_label', { name })}>
              {t('change_role')}
            </button>
          )}
        </form>
      </td>
      <td>
        <span class={`member-status ${member.active ? 'status-accepted' : 'status-revoked'}`}>{member.active ? t('active') : t('inactive')}</span>
        {!confirming && (
          <div class="actions">
            {member.active ? (
              <button
                type="button"
                class="danger"
                ref={trigger}
                disabled={busy}
                aria-label={t('deactivate_label', { name })}
                onClick={ask}
              >
                {t('deactivate')}
              </button>
            ) : (
              <button
                type="button"
                disabled={busy}
                aria-label={t('reactivate_label', { name })}
                onClick={() => void change({ active: true }, () => t('reactivated', { name }))}
              >
                {t('reactivate')}
              </button>
            )}
          </div>
        )}
        {confirming && (
          <div class="row-confirm" role="group" aria-labelledby={`deactivate-q-${member.id}`}>
            <p id={`deactivate-q-${member.id}`} class="small">
              {t('deactivate_confirm', { name })} {self && <strong>{t('deactivate_self')}</strong>}
            </p>
            <div class="actions">
              <button
                type="button"
                class="danger"
                ref={confirm}
                disabled={busy}
                onClick={() => void change({ active: false }, () => t('deactivated', { name }))}
              >
                {t('deactivate_yes')}
              </button>
              <button type="button" disabled={busy} onClick={cancel}>
                {t('cancel')}
              </button>
            </div>
          </div>
        )}
        <ErrorText error={error} small />
        {done && (
          <p class="success small" role="status">
            {done}
          </p>
        )}
      </td>
    </tr>
  )
}
