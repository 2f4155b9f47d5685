// The secretariat reads the audit log: newest first, a page at a time, filtered within the
// page by kind of action or by words (who, what, on what). Each entry carries the hash of the
// one before; a break in that chain within the page is flagged (the full check is the
// operator's `manifesto audit verify`).
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, query } from '../../api/client'
import type { AuditEntry, MemberView } from '../../api/types'
import { dateTime, messages, num } from '../../i18n'
import { ErrorText } from '../../ui/action'
import { errorText } from '../../ui/common'
import { actionFamily, chainBreaks, detailPairs, findLastSeq, matches, pageCount, pageRange } from './auditPaging'

const t = messages({
  en: {
    title: 'Audit log',
    table_label: 'Entries of this page',
    intro: 'Every login, invitation, change of role or phase, ballot… is recorded here, newest first. Each entry is chained to the one before by its hash.',
    refresh: 'Refresh',
    page_size: 'Entries per page',
    family: 'Kind of action',
    all: 'All',
    search: 'Search this page',
    search_hint: 'person, address, action, target…',
    newest: 'Newest',
    newer: 'Newer',
    older: 'Older',
    oldest: 'Oldest',
    pages: 'Pages of the log',
    pages_bottom: 'Pages of the log (end of the list)',
    page_of: 'Page {page} of {pages}: entries {from} to {to} of {total}.',
    matching: '{count} of the {total} entries on this page match.',
    empty: 'The log is empty.',
    none_match: 'No entry on this page matches: try another page or clear the filter.',
    loading: 'Loading…',
    col_seq: 'No.',
    col_when: 'When',
    col_who: 'Who',
    col_what: 'What',
    col_on: 'On',
    col_details: 'Details',
    server: 'the server',
    cli: 'the command line',
    chain_broken: 'The hash chain is broken before this entry.',
    family_login: 'Logins',
    family_session: 'Sessions',
    family_password: 'Passwords',
    family_token: 'API tokens',
    family_user: 'Accounts',
    family_invitation: 'Invitations',
    family_document: 'Documents',
    family_version: 'Versions',
    family_text: 'Corrections',
    family_comment: 'Comments',
    family_amendment: 'Amendments',
    family_ballot: 'Ballots',
  },
  fr: {
    title: 'Journal d’audit',
    table_label: 'Entrées de cette page',
    intro: 'Chaque connexion, invitation, changement de rôle ou de phase, scrutin… est consigné ici, du plus récent au plus ancien. Chaque entrée est chaînée à la précédente par son empreinte.',
    refresh: 'Actualiser',
    page_size: 'Entrées par page',
    family: 'Type d’action',
    all: 'Toutes',
    search: 'Rechercher dans cette page',
    search_hint: 'personne, adresse, action, cible…',
    newest: 'Les plus récentes',
    newer: 'Plus récentes',
    older: 'Plus anciennes',
    oldest: 'Les plus anciennes',
    pages: 'Pages du journal',
    pages_bottom: 'Pages du journal (fin de la liste)',
    page_of: 'Page {page} sur {pages} : entrées {from} à {to} sur {total}.',
    matching: '{count} des {total} entrées de cette page correspondent.',
    empty: 'Le journal est vide.',
    none_match: 'Aucune entrée de cette page ne correspond : essayez une autre page ou effacez le filtre.',
    loading: 'Chargement…',
    col_seq: 'N°',
    col_when: 'Quand',
    col_who: 'Qui',
    col_what: 'Quoi',
    col_on: 'Sur',
    col_details: 'Détails',
    server: 'le serveur',
    cli: 'la ligne de commande',
    chain_broken: 'La chaîne des empreintes est rompue avant cette entrée.',
    family_login: 'Connexions',
    family_session: 'Sessions',
    family_password: 'Mots de passe',
    family_token: 'Jetons d’API',
    family_user: 'Comptes',
    family_invitation: 'Invitations',
    family_document: 'Documents',
    family_version: 'Versions',
    family_text: 'Corrections',
    family_comment: 'Commentaires',
    family_amendment: 'Amendements',
    family_ballot: 'Scrutins',
  },
})

const ACTIONS_EN = {
  'login.succeeded': 'Logged in',
  'login.failed': 'Failed login',
  'session.ended': 'Session ended',
  'password.changed': 'Password changed',
  'password.change_failed': 'Password change refused',
  'password.reset': 'Password reset (command line)',
  'token.created': 'API token created',
  'token.revoked': 'API token revoked',
  'user.created': 'Account created',
  'user.role_changed': 'Role changed',
  'user.deactivated': 'Account deactivated',
  'user.reactivated': 'Account reactivated',
  'invitation.created': 'Invitation created',
  'invitation.resent': 'Invitation resent (new link)',
  'invitation.revoked': 'Invitation revoked',
  'invitation.accepted': 'Invitation accepted',
  'document.created': 'Document created',
  'document.updated': 'Document settings changed',
  'document.phase_changed': 'Phase changed',
  'version.created': 'Named version taken',
  'text.corrected': 'Editorial correction',
  'comment.created': 'Comment written',
  'comment.edited': 'Comment edited',
  'comment.resolved': 'Thread resolved',
  'comment.reopened': 'Thread reopened',
  'comment.deleted': 'Comment deleted',
  'comment.hidden': 'Comment hidden',
  'amendment.tabled': 'Amendment tabled',
  'amendment.edited': 'Amendment edited',
  'amendment.supported': 'Amendment supported',
  'amendment.support_withdrawn': 'Support withdrawn',
  'amendment.withdrawn': 'Amendment withdrawn',
  'amendment.screened': 'Amendment screened',
  'amendment.order_set': 'Voting order set',
  'ballot.opened': 'Ballot opened',
  'ballot.voted': 'Vote cast',
  'ballot.closed': 'Ballot closed',
}

const ACTIONS_FR: Record<keyof typeof ACTIONS_EN, string> = {
  'login.succeeded': 'Connexion',
  'login.failed': 'Échec de connexion',
  'session.ended': 'Fin de session',
  'password.changed': 'Mot de passe changé',
  'password.change_failed': 'Changement de mot de passe refusé',
  'password.reset': 'Mot de passe réinitialisé (ligne de commande)',
  'token.created': 'Jeton d’API créé',
  'token.revoked': 'Jeton d’API révoqué',
  'user.created': 'Compte créé',
  'user.role_changed': 'Rôle changé',
  'user.deactivated': 'Compte désactivé',
  'user.reactivated': 'Compte réactivé',
  'invitation.created': 'Invitation créée',
  'invitation.resent': 'Invitation renvoyée (nouveau lien)',
  'invitation.revoked': 'Invitation révoquée',
  'invitation.accepted': 'Invitation acceptée',
  'document.created': 'Document créé',
  'document.updated': 'Réglages du document modifiés',
  'document.phase_changed': 'Changement de phase',
  'version.created': 'Version nommée enregistrée',
  'text.corrected': 'Correction rédactionnelle',
  'comment.created': 'Commentaire écrit',
  'comment.edited': 'Commentaire modifié',
  'comment.resolved': 'Fil résolu',
  'comment.reopened': 'Fil rouvert',
  'comment.deleted': 'Commentaire supprimé',
  'comment.hidden': 'Commentaire masqué',
  'amendment.tabled': 'Amendement déposé',
  'amendment.edited': 'Amendement modifié',
  'amendment.supported': 'Amendement soutenu',
  'amendment.support_withdrawn': 'Soutien retiré',
  'amendment.withdrawn': 'Amendement retiré',
  'amendment.screened': 'Amendement examiné',
  'amendment.order_set': 'Ordre de vote fixé',
  'ballot.opened': 'Scrutin ouvert',
  'ballot.voted': 'Vote exprimé',
  'ballot.closed': 'Scrutin clos',
}

const ta = messages({ en: ACTIONS_EN, fr: ACTIONS_FR })

const FAMILIES = ['login', 'session', 'password', 'token', 'user', 'invitation', 'document', 'version', 'text', 'comment', 'amendment', 'ballot'] as const
const SIZES = [100, 500, 1000]

/** An action in words, or its code when this app does not know it. */
function actionText(action: string): string {
  return Object.hasOwn(ACTIONS_EN, action) ? ta(action as keyof typeof ACTIONS_EN) : action
}

export function Audit() {
  const [size, setSize] = useState(100)
  const [page, setPage] = useState(0)
  const [last, setLast] = useState<number | null>(null)
  const [entries, setEntries] = useState<AuditEntry[] | null>(null)
  const [names, setNames] = useState<Map<number, string>>(new Map())
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const [family, setFamily] = useState('')
  const [search, setSearch] = useState('')
  const lastKnown = useRef(0)
  const tableTop = useRef<HTMLParagraphElement>(null)

  const exists = async (after: number) => (await api<AuditEntry[]>('GET', `/api/audit${query({ after, limit: 1 })}`)).length > 0

  async function load(targetPage: number, pageSize: number, refresh: boolean) {
    setBusy(true)
    setError('')
    try {
      let top = last
      if (top === null || refresh) {
        top = await findLastSeq(exists, lastKnown.current)
        lastKnown.current = top
        setLast(top)
      }
      const range = pageRange(top, targetPage, pageSize)
      const list = range ? await api<AuditEntry[]>('GET', `/api/audit${query(range)}`) : []
      setEntries(list)
      setPage(targetPage)
    } catch (failure) {
      setError(errorText(failure))
    } finally {
      setBusy(false)
    }
  }

  useEffect(() => {
    void load(0, size, true)
    api<MemberView[]>('GET', '/api/users')
      .then((users) => setNames(new Map(users.map((u) => [u.id, u.name]))))
      .catch(() => {
        /* ids are shown instead of names */
      })
  }, [])

  const go = (target: number) => {
    void load(target, size, false).then(() => tableTop.current?.focus())
  }

  const total = last ?? 0
  const pages = pageCount(total, size)
  const range = last !== null ? pageRange(total, page, size) : null
  const breaks = chainBreaks(entries ?? [])
  const newestFirst = [...(entries ?? [])].reverse()
  const shown = newestFirst.filter((entry) => matches(entry, search, family))
  const filtering = search.trim() !== '' || family !== ''

  const who = (entry: AuditEntry) => {
    const label = entry.actor.label === 'server' ? t('server') : entry.actor.label === 'cli' ? t('cli') : entry.actor.label
    const name = entry.actor.user_id != null ? names.get(entry.actor.user_id) : undefined
    return name && name !== label ? `${name} (${label})` : label
  }
  const target = (value: string | null | undefined) => {
    if (!value) return '—'
    const user = /^user:(\d+)$/.exec(value)
    const name = user ? names.get(Number(user[1])) : undefined
    return name ? `${name} (${value})` : value
  }

  const pager = (bottom: boolean) => (
    <nav class="actions pager" aria-label={bottom ? t('pages_bottom') : t('pages')}>
      <button type="button" disabled={busy || page === 0} onClick={() => go(0)}>
        {t('newest')}
      </button>
      <button type="button" disabled={busy || page === 0} onClick={() => go(page - 1)}>
        ← {t('newer')}
      </button>
      <button type="button" disabled={busy || page >= pages - 1} onClick={() => go(page + 1)}>
        {t('older')} →
      </button>
      <button type="button" disabled={busy || page >= pages - 1} onClick={() => go(pages - 1)}>
        {t('oldest')}
      </button>
    </nav>
  )

  return (
    <section class="page audit-page" aria-labelledby="audit-title">
      <h1 id="audit-title">{t('title')}</h1>
      <p class="muted">{t('intro')}</p>
      <div class="admin-filters card">
        <label>
          {t('family')}
          <select value={family} onChange={(e) => setFamily(e.currentTarget.value)}>
            <option value="">{t('all')}</option>
            {FAMILIES.map((f) => (
              <option key={f} value={f}>
                {t(`family_${f}`)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('search')}
          <input type="search" placeholder={t('search_hint')} value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </label>
        <label>
          {t('page_size')}
          <select
            value={String(size)}
            onChange={(e) => {
              const next = Number(e.currentTarget.value)
              setSize(next)
              void load(0, next, false)
            }}
          >
            {SIZES.map((s) => (
              <option key={s} value={String(s)}>
                {num(s)}
              </option>
            ))}
          </select>
        </label>
        <div class="filter-button">
          <button type="button" disabled={busy} onClick={() => void load(0, size, true)}>
            {t('refresh')}
          </button>
        </div>
      </div>
      <ErrorText error={error} />
      {entries === null && !error && <p class="muted">{t('loading')}</p>}
      {last === 0 && <p>{t('empty')}</p>}
      {entries !== null && range && (
        <>
          <p ref={tableTop} tabIndex={-1} role="status" class="audit-status">
            {t('page_of', { page: num(page + 1), pages: num(pages), from: num(range.after + 1), to: num(range.after + range.limit), total: num(total) })}{' '}
            {filtering && t('matching', { count: num(shown.length), total: num(entries.length) })}
          </p>
          {pages > 1 && pager(false)}
          {shown.length === 0 ? (
            <p>{t('none_match')}</p>
          ) : (
            <div class="table-scroll" tabIndex={0} role="region" aria-label={t('table_label')}>
              <table class="list audit-table stack-table">
                <thead>
                  <tr>
                    <th scope="col">{t('col_seq')}</th>
                    <th scope="col">{t('col_when')}</th>
                    <th scope="col">{t('col_who')}</th>
                    <th scope="col">{t('col_what')}</th>
                    <th scope="col">{t('col_on')}</th>
                    <th scope="col">{t('col_details')}</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((entry) => (
                    <tr key={entry.seq} data-seq={entry.seq} data-action={entry.action} class={`audit-${actionFamily(entry.action)}`}>
                      <td data-label={t('col_seq')}>{entry.seq}</td>
                      <td data-label={t('col_when')} class="nowrap">{dateTime(new Date(entry.at * 1000).toISOString())}</td>
                      <td data-label={t('col_who')} class="break">
                        {who(entry)}
                        {entry.actor.address && <div class="muted small">{entry.actor.address}</div>}
                      </td>
                      <td data-label={t('col_what')}>
                        {actionText(entry.action)}
                        <div class="muted small">
                          <code>{entry.action}</code>
                        </div>
                        {breaks.has(entry.seq) && (
                          <p class="error small" role="note">
                            {t('chain_broken')}
                          </p>
                        )}
                      </td>
                      <td data-label={t('col_on')} class="break">
                        {target(entry.target)}
                      </td>
                      <td data-label={t('col_details')} class="break">
                        <Details pairs={detailPairs(entry.details)} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {pages > 1 && pager(true)}
        </>
      )}
    </section>
  )
}

/** An entry's details as a list of names and values, or a dash when it has none. */
function Details({ pairs }: { pairs: [string, string][] }) {
  if (pairs.length === 0) return <>—</>
  return (
    <dl class="details">
      {pairs.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  )
}
