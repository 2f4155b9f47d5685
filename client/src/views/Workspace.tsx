// A document's page: its title and phase, the connection state and who is here, tabs for the
// text (editor, outline, comments), amendments, votes, history and, for the secretariat, the
// management of the process.
import { useEffect, useMemo } from 'preact/hooks'
import { DocumentSession, type ConnectionState } from '../document/session'
import { Editor, focusBlock } from '../editor/Editor'
import { dateTime, messages } from '../i18n'
import { documentPath, type DocumentTab } from '../router'
import { isSecretariat, me } from '../session'
import { errorText, phaseName } from '../ui/common'
import { Link } from '../ui/Link'
import { CommentsPanel } from '../features/comments/CommentsPanel'
import { AmendmentsView } from '../features/amendments/AmendmentsView'
import { VotesView } from '../features/votes/VotesView'
import { HistoryView } from '../features/history/HistoryView'
import { ManageDocument } from '../features/admin/ManageDocument'
import { announce } from '../ui/announce'

const t = messages({
  en: {
    tabs: 'Document views',
    tab_text: 'Text',
    tab_amendments: 'Amendments',
    tab_votes: 'Votes',
    tab_history: 'History',
    tab_manage: 'Manage',
    outline: 'Outline',
    preamble: 'Preamble',
    untitled: 'Untitled section',
    comments_count: '{count} open comments',
    here: 'Who is here',
    you: '(you)',
    deadline: 'Deadline: {date}',
    deadline_passed: 'Deadline passed: {date}',
    state_connecting: 'Connecting…',
    state_offline: 'Offline — your edits are kept',
    state_syncing: 'Syncing…',
    state_saving: 'Saving…',
    state_saved: 'All changes saved',
    read_only_observer: 'You follow this text as an observer: it is read-only for you.',
    read_only_phase: 'The text is frozen in the {phase} phase: propose amendments instead of editing.',
    read_only_deadline: 'The drafting deadline has passed: the text is read-only.',
    read_only_final: 'The text is read-only in the {phase} phase.',
    phase_announced: 'The document moved to the {phase} phase.',
  },
  fr: {
    tabs: 'Vues du document',
    tab_text: 'Texte',
    tab_amendments: 'Amendements',
    tab_votes: 'Votes',
    tab_history: 'Historique',
    tab_manage: 'Gérer',
    outline: 'Plan',
    preamble: 'Préambule',
    untitled: 'Section sans titre',
    comments_count: '{count} commentaires ouverts',
    here: 'Présents',
    you: '(vous)',
    deadline: 'Échéance : {date}',
    deadline_passed: 'Échéance passée : {date}',
    state_connecting: 'Connexion…',
    state_offline: 'Hors ligne — vos modifications sont conservées',
    state_syncing: 'Synchronisation…',
    state_saving: 'Enregistrement…',
    state_saved: 'Toutes les modifications sont enregistrées',
    read_only_observer: 'Vous suivez ce texte comme observateur·rice : il est en lecture seule pour vous.',
    read_only_phase: 'Le texte est figé pendant la phase « {phase} » : proposez des amendements plutôt que de le modifier.',
    read_only_deadline: 'L’échéance de rédaction est passée : le texte est en lecture seule.',
    read_only_final: 'Le texte est en lecture seule pendant la phase « {phase} ».',
    phase_announced: 'Le document est passé à la phase « {phase} ».',
  },
})

const STATE_LABEL: Record<ConnectionState, Parameters<typeof t>[0]> = {
  connecting: 'state_connecting',
  offline: 'state_offline',
  syncing: 'state_syncing',
  saving: 'state_saving',
  saved: 'state_saved',
}

export function Workspace({ id, tab }: { id: string; tab: DocumentTab }) {
  const user = me.value!
  const session = useMemo(() => new DocumentSession(id, user), [id, user.id])
  useEffect(() => {
    session.start()
    const off = session.feed.on(['phase.changed'], (event) => {
      const phase = event.data?.phase
      if (typeof phase === 'string') announce(t('phase_announced', { phase: phaseName(phase as never) }))
    })
    return () => {
      off()
      // Preact runs this before the children's clean-ups: let the editor detach from the
      // document first, so that nothing the teardown emits reaches a destroyed view.
      setTimeout(() => session.destroy(), 0)
    }
  }, [session])

  const record = session.record.value
  if (!record) {
    const error = session.loadError.value
    return <section class="page">{error ? <p class="error" role="alert">{errorText(error)}</p> : <p>…</p>}</section>
  }
  const tabs: DocumentTab[] = ['text', 'amendments', 'votes', 'history', ...(isSecretariat() ? (['manage'] as const) : [])]

  return (
    <div class="workspace">
      <header class="doc-header">
        <div>
          <h1 class="doc-title">{record.title}</h1>
          <p class="doc-meta">
            <span class={`phase phase-${record.phase}`}>{phaseName(record.phase)}</span>
            {record.deadline && (
              <span class={record.deadline_passed ? 'deadline passed' : 'deadline'}>
                {t(record.deadline_passed ? 'deadline_passed' : 'deadline', { date: dateTime(record.deadline) })}
              </span>
            )}
          </p>
        </div>
        <ConnectionStatus session={session} />
      </header>
      <nav class="tabs" aria-label={t('tabs')}>
        {tabs.map((name) => (
          <Link key={name} href={documentPath(id, name)} aria-current={tab === name ? 'page' : undefined}>
            {t(`tab_${name}`)}
          </Link>
        ))}
      </nav>
      {/* The text stays mounted under the other tabs: the editor binding, the outline's
          structure and the comments panel keep following the live document. */}
      <div hidden={tab !== 'text'}>
        <TextTab session={session} />
      </div>
      {tab === 'amendments' && <AmendmentsView session={session} />}
      {tab === 'votes' && <VotesView session={session} />}
      {tab === 'history' && <HistoryView session={session} />}
      {tab === 'manage' && isSecretariat() && <ManageDocument session={session} />}
    </div>
  )
}

function ConnectionStatus({ session }: { session: DocumentSession }) {
  const state = session.connection.value
  return (
    <div class="doc-status">
      <p class={`connection connection-${state}`} role="status" aria-live="polite" data-state={state}>
        <span class="dot" aria-hidden="true" />
        {t(STATE_LABEL[state])}
      </p>
    </div>
  )
}

function ReadOnlyNotice({ session }: { session: DocumentSession }) {
  const record = session.record.value!
  if (session.editable.value) return null
  let text: string
  if (session.user.role === 'observer') text = t('read_only_observer')
  else if (record.phase === 'drafting' && record.deadline_passed) text = t('read_only_deadline')
  else if (record.phase === 'amendments') text = t('read_only_phase', { phase: phaseName(record.phase) })
  else text = t('read_only_final', { phase: phaseName(record.phase) })
  return (
    <p class="banner read-only" data-testid="read-only">
      <span aria-hidden="true">🔒 </span>
      {text}
    </p>
  )
}

function TextTab({ session }: { session: DocumentSession }) {
  return (
    <div class="text-layout">
      <aside class="outline" aria-labelledby="outline-title">
        <h2 id="outline-title">{t('outline')}</h2>
        <ol>
          {session.sections.value.map((section) => {
            const count = session.commentCounts.value[section.id] ?? 0
            return (
              <li key={section.id}>
                <a
                  href={`#${section.id}`}
                  onClick={(event) => {
                    event.preventDefault()
                    const first = section.id.startsWith('pending-') ? null : section.id
                    if (first && section.id !== 's-preamble') focusBlock(first)
                    else if (section.paragraphs[0]?.id) focusBlock(section.paragraphs[0].id)
                  }}
                >
                  {section.number !== null && <span class="outline-number">{section.number}.</span>}
                  {section.title || (section.kind === 'preamble' ? t('preamble') : t('untitled'))}
                </a>
                {count > 0 && (
                  <span class="badge" title={t('comments_count', { count })} aria-label={t('comments_count', { count })}>
                    {count}
                  </span>
                )}
              </li>
            )
          })}
        </ol>
        <Presence session={session} />
      </aside>
      <div class="text-column">
        <ReadOnlyNotice session={session} />
        <Editor session={session} />
      </div>
      <CommentsPanel session={session} />
    </div>
  )
}

function Presence({ session }: { session: DocumentSession }) {
  const people = session.presence.value
  return (
    <section class="presence" aria-labelledby="presence-title">
      <h2 id="presence-title">
        {t('here')} ({people.length})
      </h2>
      <ul>
        {people.map((person) => (
          <li key={person.clientId}>
            <span class="swatch" style={{ backgroundColor: person.colour }} aria-hidden="true" />
            {person.name} {person.self && <span class="muted">{t('you')}</span>}
          </li>
        ))}
      </ul>
    </section>
  )
}
