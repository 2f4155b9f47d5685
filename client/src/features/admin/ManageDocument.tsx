// The secretariat's controls of one document: move the phase (forward freely, back with a
// reason), set or remove the current phase's deadline, the amendment settings, take a named
// version, and export the text (PDF, Markdown, HTML).
import { useEffect, useState } from 'preact/hooks'
import { api } from '../../api/client'
import type { DocumentView, Phase } from '../../api/types'
import type { DocumentSession } from '../../document/session'
import { dateTime, messages } from '../../i18n'
import { useAction } from '../../ui/action'
import { localToIso as toIso, phaseName } from '../../ui/common'

const PHASES: Phase[] = ['drafting', 'amendments', 'voting', 'final_vote', 'adopted', 'archived']

const t = messages({
  en: {
    title: 'Manage the document',
    phase_title: 'Phase',
    current: 'Current phase: {phase}, since {date}.',
    next_phase: 'Move to',
    deadline_optional: 'Deadline of the new phase (optional)',
    reason: 'Reason (required to go back)',
    move: 'Change the phase',
    moved: 'The document is now in the {phase} phase.',
    deadline_title: 'Deadline of the current phase',
    deadline_none: 'No deadline is set.',
    deadline_at: 'The phase closes on {date}.',
    new_deadline: 'New deadline',
    set_deadline: 'Set the deadline',
    remove_deadline: 'Remove the deadline',
    deadline_set: 'Deadline saved.',
    settings_title: 'Amendment rules',
    min_supporters: 'Supporters an amendment needs before screening',
    max_pending: 'Pending amendments per delegate at most',
    secretariat_votes: 'Secretariat accounts vote in new ballots',
    save_settings: 'Save the rules',
    settings_saved: 'Rules saved.',
    version_title: 'Named version',
    version_name: 'Name of the version',
    take_version: 'Take a named version',
    version_taken: 'Version {number} “{name}” saved.',
    export_title: 'Export',
    export_annex: 'With the annex of amendments and votes',
    export_hint: 'The adopted text once adopted, otherwise the current text.',
    transitions_title: 'Phase changes',
    transition: '{from} → {to}, {date}',
    transition_reason: 'reason: {reason}',
  },
  fr: {
    title: 'Gérer le document',
    phase_title: 'Phase',
    current: 'Phase en cours : {phase}, depuis le {date}.',
    next_phase: 'Passer à',
    deadline_optional: 'Échéance de la nouvelle phase (facultative)',
    reason: 'Motif (obligatoire pour revenir en arrière)',
    move: 'Changer de phase',
    moved: 'Le document est maintenant en phase « {phase} ».',
    deadline_title: 'Échéance de la phase en cours',
    deadline_none: 'Aucune échéance n’est fixée.',
    deadline_at: 'La phase se ferme le {date}.',
    new_deadline: 'Nouvelle échéance',
    set_deadline: 'Fixer l’échéance',
    remove_deadline: 'Supprimer l’échéance',
    deadline_set: 'Échéance enregistrée.',
    settings_title: 'Règles des amendements',
    min_supporters: 'Soutiens nécessaires avant l’examen d’un amendement',
    max_pending: 'Amendements en attente par délégué·e au plus',
    secretariat_votes: 'Les comptes du secrétariat votent dans les nouveaux scrutins',
    save_settings: 'Enregistrer les règles',
    settings_saved: 'Règles enregistrées.',
    version_title: 'Version nommée',
    version_name: 'Nom de la version',
    take_version: 'Enregistrer une version nommée',
    version_taken: 'Version {number} « {name} » enregistrée.',
    export_title: 'Exporter',
    export_annex: 'Avec l’annexe des amendements et des votes',
    export_hint: 'Le texte adopté une fois adopté, sinon le texte en cours.',
    transitions_title: 'Changements de phase',
    transition: '{from} → {to}, le {date}',
    transition_reason: 'motif : {reason}',
  },
})

export function ManageDocument({ session }: { session: DocumentSession }) {
  const record = session.record.value!
  return (
    <section class="manage" aria-labelledby="manage-title">
      <h2 id="manage-title" class="visually-hidden">
        {t('title')}
      </h2>
      <PhaseControl session={session} record={record} />
      <DeadlineControl session={session} record={record} />
      <Settings session={session} record={record} />
      <NamedVersion session={session} />
      <Export record={record} />
      <Transitions record={record} />
    </section>
  )
}

type Props = { session: DocumentSession; record: DocumentView }

function PhaseControl({ session, record }: Props) {
  // An adopted document can only be archived; otherwise any other phase (back needs a reason).
  const choices = record.phase === 'adopted' ? (['archived'] as Phase[]) : PHASES.filter((p) => p !== record.phase)
  const nextIndex = Math.min(PHASES.indexOf(record.phase) + 1, PHASES.length - 1)
  const next = choices.includes(PHASES[nextIndex]) ? PHASES[nextIndex] : choices[0]
  const [phase, setPhase] = useState<Phase>(next)
  // Once the phase changed (here or elsewhere), offer the phase after the new one.
  useEffect(() => setPhase(next), [record.phase])
  const [deadline, setDeadline] = useState('')
  const [reason, setReason] = useState('')
  const { run, busy, feedback } = useAction()
  const path = `/api/documents/${encodeURIComponent(record.id)}/phase`
  return (
    <form
      class="card"
      onSubmit={(event) => {
        event.preventDefault()
        void run(async () => {
          session.record.value = await api<DocumentView>('POST', path, {
            phase,
            deadline: toIso(deadline),
            reason: reason.trim() || null,
          })
          setReason('')
          setDeadline('')
          return t('moved', { phase: phaseName(phase) })
        })
      }}
    >
      <h3>{t('phase_title')}</h3>
      <p>{t('current', { phase: phaseName(record.phase), date: dateTime(record.phase_since) })}</p>
      <label>
        {t('next_phase')}
        <select value={phase} onChange={(e) => setPhase(e.currentTarget.value as Phase)}>
          {choices.map((p) => (
            <option key={p} value={p}>
              {phaseName(p)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('deadline_optional')}
        <input type="datetime-local" value={deadline} onInput={(e) => setDeadline(e.currentTarget.value)} />
      </label>
      <label>
        {t('reason')}
        <input value={reason} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      {feedback}
      <button type="submit" class="primary" disabled={busy}>
        {t('move')}
      </button>
    </form>
  )
}

function DeadlineControl({ session, record }: Props) {
  const [deadline, setDeadline] = useState('')
  const { run, busy, feedback } = useAction()
  const path = `/api/documents/${encodeURIComponent(record.id)}`
  const save = (value: string | null) =>
    run(async () => {
      session.record.value = await api<DocumentView>('PATCH', path, { deadline: value })
      setDeadline('')
      return t('deadline_set')
    })
  return (
    <form
      class="card"
      onSubmit={(event) => {
        event.preventDefault()
        void save(toIso(deadline))
      }}
    >
      <h3>{t('deadline_title')}</h3>
      <p>{record.deadline ? t('deadline_at', { date: dateTime(record.deadline) }) : t('deadline_none')}</p>
      <label>
        {t('new_deadline')}
        <input type="datetime-local" required value={deadline} onInput={(e) => setDeadline(e.currentTarget.value)} />
      </label>
      {feedback}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('set_deadline')}
        </button>
        {record.deadline && (
          <button type="button" disabled={busy} onClick={() => void save(null)}>
            {t('remove_deadline')}
          </button>
        )}
      </div>
    </form>
  )
}

function Settings({ session, record }: Props) {
  const [minSupporters, setMinSupporters] = useState(record.min_supporters)
  const [maxPending, setMaxPending] = useState(record.max_pending_amendments)
  const [secretariatVotes, setSecretariatVotes] = useState(record.secretariat_votes)
  const { run, busy, feedback } = useAction()
  return (
    <form
      class="card"
      onSubmit={(event) => {
        event.preventDefault()
        void run(async () => {
          session.record.value = await api<DocumentView>('PATCH', `/api/documents/${encodeURIComponent(record.id)}`, {
            min_supporters: minSupporters,
            max_pending_amendments: maxPending,
            secretariat_votes: secretariatVotes,
          })
          return t('settings_saved')
        })
      }}
    >
      <h3>{t('settings_title')}</h3>
      <label>
        {t('min_supporters')}
        <input type="number" min={0} max={1000} value={minSupporters} onInput={(e) => setMinSupporters(Number(e.currentTarget.value))} />
      </label>
      <label>
        {t('max_pending')}
        <input type="number" min={1} max={1000} value={maxPending} onInput={(e) => setMaxPending(Number(e.currentTarget.value))} />
      </label>
      <label class="inline">
        <input type="checkbox" checked={secretariatVotes} onChange={(e) => setSecretariatVotes(e.currentTarget.checked)} />
        {t('secretariat_votes')}
      </label>
      {feedback}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {t('save_settings')}
        </button>
      </div>
    </form>
  )
}

function NamedVersion({ session }: { session: DocumentSession }) {
  const [name, setName] = useState('')
  const { run, busy, feedback } = useAction()
  return (
    <form
      class="card"
      onSubmit={(event) => {
        event.preventDefault()
        void run(async () => {
          const version = await api<{ number: number; name: string }>('POST', `/api/documents/${encodeURIComponent(session.id)}/versions`, {
            name: name.trim(),
          })
          setName('')
          return t('version_taken', { number: version.number, name: version.name })
        })
      }}
    >
      <h3>{t('version_title')}</h3>
      <label>
        {t('version_name')}
        <input required maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      {feedback}
      <button type="submit" disabled={busy}>
        {t('take_version')}
      </button>
    </form>
  )
}

function Export({ record }: { record: DocumentView }) {
  const [annex, setAnnex] = useState(false)
  const base = `/api/documents/${encodeURIComponent(record.id)}/export`
  const suffix = annex ? '?annex=true' : ''
  return (
    <section class="card" aria-labelledby="export-title">
      <h3 id="export-title">{t('export_title')}</h3>
      <p class="muted small">{t('export_hint')}</p>
      <label class="inline">
        <input type="checkbox" checked={annex} onChange={(e) => setAnnex(e.currentTarget.checked)} />
        {t('export_annex')}
      </label>
      <div class="actions">
        <a class="button-link" href={`${base}.pdf${suffix}`} download>
          PDF
        </a>
        <a class="button-link" href={`${base}.md${suffix}`} download>
          Markdown
        </a>
        <a class="button-link" href={`${base}.html${suffix}`} download>
          HTML
        </a>
      </div>
    </section>
  )
}

function Transitions({ record }: { record: DocumentView }) {
  if (record.transitions.length === 0) return null
  return (
    <section class="card" aria-labelledby="transitions-title">
      <h3 id="transitions-title">{t('transitions_title')}</h3>
      <ol>
        {record.transitions.map((tr) => (
          <li key={tr.version}>
            {t('transition', { from: phaseName(tr.from), to: phaseName(tr.to), date: dateTime(tr.at) })}
            {tr.reason && <span class="muted"> — {t('transition_reason', { reason: tr.reason })}</span>}
          </li>
        ))}
      </ol>
    </section>
  )
}
