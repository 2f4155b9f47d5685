// The Amendments tab: propose a change to one paragraph (replace its text, insert a paragraph
// after it, delete it) with a rationale; every amendment as a word diff with its supporters,
// status, flags (outdated, competing) and history; support, withdraw; filters by section,
// status and author. The secretariat screens (friendly, inadmissible, to a vote) and sets the
// voting order of competing amendments. Live: reloads on amendment, ballot and text events.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api } from '../../api/client'
import type { AmendmentKind, AmendmentView, DocumentView, NewAmendment, ScreeningDecision } from '../../api/types'
import type { DocumentSession } from '../../document/session'
import type { SectionInfo } from '../../editor/structure'
import { dateTime, messages, num } from '../../i18n'
import { documentPath } from '../../router'
import { announce } from '../../ui/announce'
import { phaseName } from '../../ui/common'
import { Link } from '../../ui/Link'
import { paragraphsOf, useLiveText, type LiveText } from './liveText'
import { Confirm, Diff, LoadState, amendmentTitle, kindTitle, statusName, targetName, useAction, useRevealHeading } from './parts'
import {
  STATUSES,
  authorsOf,
  competingGroups,
  excerpt,
  filterAmendments,
  isPending,
  moveItem,
  oneParagraph,
  plainText,
  respan,
  typo,
  wordDiff,
  type Filters,
} from './text'

const t = messages({
  en: {
    title: 'Amendments',
    propose: 'Propose an amendment',
    note_drafting: 'Amendments are tabled in the Amendments phase, once the text is frozen.',
    note_open: 'Propose changes to the frozen text, one paragraph at a time, and support the proposals you agree with.',
    note_min: 'Supporters an amendment needs before the secretariat screens it: {min}.',
    note_deadline: 'The deadline for tabling amendments has passed.',
    note_voting: 'Amendments put to a vote are decided in the Votes tab.',
    note_closed: 'No more amendments are tabled in the {phase} phase.',
    note_observer: 'As an observer you follow the amendments; you do not table or support them.',
    loading: 'Loading the amendments…',
    announce_new: 'New amendment {label} by {author}: {what}.',
    form_title: 'New amendment',
    paragraph: 'Paragraph',
    choose: 'Choose a paragraph',
    preamble: 'Preamble',
    untitled: 'Untitled section',
    kind: 'What do you propose?',
    kind_replace: 'Change its text',
    kind_insert_after: 'Add a new paragraph after it',
    kind_delete: 'Delete it',
    current_text: 'Its text now',
    new_text: 'Proposed text',
    new_paragraph: 'Text of the new paragraph',
    one_paragraph: 'One paragraph: line breaks become spaces.',
    preview: 'Preview',
    rationale: 'Rationale',
    rationale_hint: 'Why this change? Delegates read it before supporting or voting.',
    submit: 'Table the amendment',
    cancel: 'Cancel',
    need_paragraph: 'Choose the paragraph your amendment changes.',
    need_text: 'Write the proposed text.',
    same_text: 'The proposed text is the same as the paragraph’s: change some words first.',
    need_rationale: 'Give a rationale.',
    cap: 'You have {count} pending amendments, the most allowed on this document: withdraw one to table another.',
    tabled: 'Amendment {label} tabled.',
    filters: 'Filter the amendments',
    all_sections: 'All sections',
    section: 'Section',
    status: 'Status',
    all_statuses: 'All statuses',
    author: 'Author',
    all_authors: 'Everyone',
    mine: 'My amendments',
    shown: 'Amendments shown: {shown} of {total}.',
    none: 'No amendment yet.',
    none_match: 'No amendment matches these filters.',
    by: 'by {name}, {date}',
    supporters: 'Supported by {names}',
    no_supporters: 'No supporter yet',
    supporters_needed: 'supporters needed for screening: {count} of {min}',
    rationale_label: 'Rationale:',
    outdated: 'Paragraph {target} changed since this amendment was written: the change is shown against the text as it is now.',
    written_text: 'The text it was written against',
    target_gone: 'Its paragraph is no longer in the text.',
    competes: 'Competes with {labels} for the same text: only one can be adopted. Proposed voting order: {rank} of {total}.',
    competes_no_rank: 'Competes with {labels} for the same text: only one can be adopted.',
    after: 'After: “{start}”',
    decision_note: 'Note: {reason}',
    revises: 'Revises {label}.',
    revised_by: 'Replaced by its revision {label}.',
    history: 'History',
    history_item: '{status}, {date}',
    support: 'Support',
    unsupport: 'Withdraw my support',
    supported: 'You support {label}.',
    unsupported: 'You no longer support {label}.',
    withdraw: 'Withdraw',
    withdraw_confirm: 'Withdraw {label}? This cannot be undone.',
    withdraw_yes: 'Yes, withdraw it',
    withdrawn: '{label} withdrawn.',
    see_ballot: 'See its ballot',
    open_ballot: 'Open its ballot',
    voted_later: 'It will be voted on in the Voting phase.',
    screen: 'Screen this amendment',
    screen_reason: 'Reason (required to declare it inadmissible; optional otherwise)',
    accept: 'Accept as a friendly change',
    to_vote: 'Put to a vote',
    inadmissible: 'Declare inadmissible',
    need_reason: 'Give the reason it is inadmissible.',
    screened_accept: '{label} accepted and applied to the text.',
    screened_vote: '{label} put to a vote.',
    screened_inadmissible: '{label} declared inadmissible.',
    order_title: 'Voting order of competing amendments',
    order_hint: 'The server proposes the amendment furthest from the original first. Move them and save to set another order.',
    order_group: 'Paragraph {target}',
    move_up: 'Move {label} up',
    move_down: 'Move {label} down',
    save_order: 'Save this order',
    order_saved: 'Voting order saved.',
    mine_badge: 'yours',
  },
  fr: typo({
    title: 'Amendements',
    propose: 'Proposer un amendement',
    note_drafting: 'Les amendements se déposent pendant la phase « Amendements », une fois le texte figé.',
    note_open: 'Proposez des modifications du texte figé, paragraphe par paragraphe, et soutenez les propositions qui vous conviennent.',
    note_min: 'Soutiens nécessaires avant l’examen d’un amendement par le secrétariat : {min}.',
    note_deadline: 'L’échéance de dépôt des amendements est passée.',
    note_voting: 'Les amendements soumis au vote se décident dans l’onglet Votes.',
    note_closed: 'On ne dépose plus d’amendements pendant la phase « {phase} ».',
    note_observer: 'Comme observateur·rice, vous suivez les amendements sans en déposer ni en soutenir.',
    loading: 'Chargement des amendements…',
    announce_new: 'Nouvel amendement {label} de {author} : {what}.',
    form_title: 'Nouvel amendement',
    paragraph: 'Paragraphe',
    choose: 'Choisissez un paragraphe',
    preamble: 'Préambule',
    untitled: 'Section sans titre',
    kind: 'Que proposez-vous ?',
    kind_replace: 'Modifier son texte',
    kind_insert_after: 'Ajouter un paragraphe après lui',
    kind_delete: 'Le supprimer',
    current_text: 'Son texte actuel',
    new_text: 'Texte proposé',
    new_paragraph: 'Texte du nouveau paragraphe',
    one_paragraph: 'Un seul paragraphe : les retours à la ligne deviennent des espaces.',
    preview: 'Aperçu',
    rationale: 'Exposé des motifs',
    rationale_hint: 'Pourquoi ce changement ? Les délégué·es le lisent avant de soutenir ou de voter.',
    submit: 'Déposer l’amendement',
    cancel: 'Annuler',
    need_paragraph: 'Choisissez le paragraphe que modifie votre amendement.',
    need_text: 'Rédigez le texte proposé.',
    same_text: 'Le texte proposé est identique à celui du paragraphe : modifiez d’abord quelques mots.',
    need_rationale: 'Donnez un exposé des motifs.',
    cap: 'Vous avez {count} amendements en attente, le maximum permis sur ce document : retirez-en un pour en déposer un autre.',
    tabled: 'Amendement {label} déposé.',
    filters: 'Filtrer les amendements',
    all_sections: 'Toutes les sections',
    section: 'Section',
    status: 'Statut',
    all_statuses: 'Tous les statuts',
    author: 'Auteur·rice',
    all_authors: 'Tout le monde',
    mine: 'Mes amendements',
    shown: 'Amendements affichés : {shown} sur {total}.',
    none: 'Aucun amendement pour l’instant.',
    none_match: 'Aucun amendement ne correspond à ces filtres.',
    by: 'par {name}, le {date}',
    supporters: 'Soutenu par {names}',
    no_supporters: 'Aucun soutien pour l’instant',
    supporters_needed: 'soutiens nécessaires à l’examen : {count} sur {min}',
    rationale_label: 'Exposé des motifs :',
    outdated: 'Le paragraphe {target} a changé depuis la rédaction de cet amendement : la modification est montrée par rapport au texte actuel.',
    written_text: 'Le texte sur lequel il a été rédigé',
    target_gone: 'Son paragraphe n’est plus dans le texte.',
    competes: 'En concurrence avec {labels} sur le même texte : un seul peut être adopté. Ordre de vote proposé : {rank} sur {total}.',
    competes_no_rank: 'En concurrence avec {labels} sur le même texte : un seul peut être adopté.',
    after: 'Après : « {start} »',
    decision_note: 'Note : {reason}',
    revises: 'Révise {label}.',
    revised_by: 'Remplacé par sa révision {label}.',
    history: 'Historique',
    history_item: '{status}, le {date}',
    support: 'Soutenir',
    unsupport: 'Retirer mon soutien',
    supported: 'Vous soutenez {label}.',
    unsupported: 'Vous ne soutenez plus {label}.',
    withdraw: 'Retirer',
    withdraw_confirm: 'Retirer {label} ? C’est définitif.',
    withdraw_yes: 'Oui, le retirer',
    withdrawn: '{label} retiré.',
    see_ballot: 'Voir son scrutin',
    open_ballot: 'Ouvrir son scrutin',
    voted_later: 'Il sera mis aux voix pendant la phase « Vote ».',
    screen: 'Examiner cet amendement',
    screen_reason: 'Motif (obligatoire pour le déclarer irrecevable, facultatif sinon)',
    accept: 'Accepter comme amendement amical',
    to_vote: 'Soumettre au vote',
    inadmissible: 'Déclarer irrecevable',
    need_reason: 'Indiquez pourquoi il est irrecevable.',
    screened_accept: '{label} accepté et appliqué au texte.',
    screened_vote: '{label} soumis au vote.',
    screened_inadmissible: '{label} déclaré irrecevable.',
    order_title: 'Ordre de vote des amendements concurrents',
    order_hint: 'Le serveur propose de voter d’abord l’amendement le plus éloigné du texte initial. Déplacez-les et enregistrez pour fixer un autre ordre.',
    order_group: 'Paragraphe {target}',
    move_up: 'Monter {label}',
    move_down: 'Descendre {label}',
    save_order: 'Enregistrer cet ordre',
    order_saved: 'Ordre de vote enregistré.',
    mine_badge: 'le vôtre',
  }),
})

type ParagraphKind = Extract<AmendmentKind, 'replace' | 'insert_after' | 'delete'>
const PARAGRAPH_KINDS: ParagraphKind[] = ['replace', 'insert_after', 'delete']

const amendmentsPath = (id: string) => `/api/documents/${encodeURIComponent(id)}/amendments`

export function AmendmentsView({ session }: { session: DocumentSession }) {
  const record = session.record.value!
  const user = session.user
  const live = useLiveText(session)
  const initial = useMemo(() => new URLSearchParams(location.search), [])
  const [list, setList] = useState<AmendmentView[] | null>(null)
  const [loadError, setLoadError] = useState<unknown>(null)
  const [filters, setFilters] = useState<Filters>({ section: '', status: '', author: '' })
  const [proposing, setProposing] = useState(initial.has('paragraph'))
  // Bring a requested amendment (?amendment=N, a new one) into view once it is listed.
  const reveal = useRevealHeading('amendment', Number(initial.get('amendment')) || null, list)
  const proposeButton = useRef<HTMLButtonElement>(null)
  const latest = useRef(0)

  async function reload() {
    const mine = ++latest.current
    try {
      const fresh = await api<AmendmentView[]>('GET', amendmentsPath(session.id))
      if (mine !== latest.current) return
      setList(fresh)
      setLoadError(null)
    } catch (error) {
      if (mine === latest.current) setLoadError(error)
    }
  }

  useEffect(() => {
    void reload()
    let timer: ReturnType<typeof setTimeout> | undefined
    const off = session.feed.on(['amendment.', 'ballot.', 'version.', 'text.'], (event) => {
      const a = event.data as AmendmentView | undefined
      if (event.kind === 'amendment.tabled' && a?.author && a.author.id !== user.id) {
        announce(t('announce_new', { label: a.label, author: a.author.name, what: kindTitle(a.kind, targetName(a)) }))
      }
      clearTimeout(timer)
      timer = setTimeout(() => void reload(), 100)
    })
    return () => {
      off()
      clearTimeout(timer)
    }
  }, [session])

  const changed = (view: AmendmentView) => {
    setList((old) => {
      const list = old ?? []
      return list.some((a) => a.id === view.id) ? list.map((a) => (a.id === view.id ? view : a)) : [...list, view]
    })
    // Other amendments' flags (competing, order) may change too.
    void reload()
  }

  const canTable = record.phase === 'amendments' && !record.deadline_passed && user.role !== 'observer'
  const ownPending = (list ?? []).filter((a) => a.author.id === user.id && isPending(a.status)).length
  const secretariat = user.role === 'secretariat'
  const groups = secretariat && list ? competingGroups(list) : []
  const shown = list ? filterAmendments(list, filters) : []

  return (
    <section class="amendments" aria-labelledby="amendments-title">
      <div class="amendments-head">
        <div>
          <h2 id="amendments-title">{t('title')}</h2>
          <PhaseNote record={record} observer={user.role === 'observer'} />
        </div>
        {canTable && !proposing && (
          <button ref={proposeButton} type="button" class="primary" onClick={() => setProposing(true)}>
            {t('propose')}
          </button>
        )}
      </div>
      {canTable && proposing && (
        <ProposeForm
          session={session}
          live={live}
          initialParagraph={initial.get('paragraph') ?? ''}
          capReached={ownPending >= record.max_pending_amendments}
          ownPending={ownPending}
          max={record.max_pending_amendments}
          onDone={(view) => {
            setProposing(false)
            changed(view)
            setFilters({ section: '', status: '', author: '' })
            reveal(view.id)
          }}
          onCancel={() => {
            setProposing(false)
            requestAnimationFrame(() => proposeButton.current?.focus())
          }}
        />
      )}
      {groups.length > 0 && <VotingOrder session={session} groups={groups} onSaved={() => void reload()} />}
      <LoadState loaded={list !== null} error={loadError} loading={t('loading')} onRetry={() => void reload()} />
      {list && list.length > 0 && (
        <FilterBar list={list} sections={live.sections} filters={filters} setFilters={setFilters} userId={user.id} />
      )}
      {list && (
        <p class="muted small" role="status">
          {list.length === 0 ? t('none') : shown.length === 0 ? t('none_match') : t('shown', { shown: num(shown.length), total: num(list.length) })}
        </p>
      )}
      {shown.length > 0 && (
        <ol class="amendment-list">
          {shown.map((a) => (
            <li key={a.id}>
              <AmendmentCard a={a} all={list!} session={session} record={record} onChanged={changed} />
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}

function PhaseNote({ record, observer }: { record: DocumentView; observer: boolean }) {
  const notes: string[] = []
  if (record.phase === 'drafting') notes.push(t('note_drafting'))
  else if (record.phase === 'amendments') {
    notes.push(record.deadline_passed ? t('note_deadline') : t('note_open'))
    if (record.min_supporters > 0) notes.push(t('note_min', { min: num(record.min_supporters) }))
  } else if (record.phase === 'voting') notes.push(t('note_voting'))
  else notes.push(t('note_closed', { phase: phaseName(record.phase) }))
  if (observer) notes.push(t('note_observer'))
  return <p class="muted">{notes.join(' ')}</p>
}

function sectionLabel(section: SectionInfo): string {
  if (section.number !== null) return `${section.number}. ${section.title || t('untitled')}`
  return section.title || (section.kind === 'preamble' ? t('preamble') : t('untitled'))
}

function FilterBar({
  list,
  sections,
  filters,
  setFilters,
  userId,
}: {
  list: AmendmentView[]
  sections: SectionInfo[]
  filters: Filters
  setFilters: (f: Filters) => void
  userId: number
}) {
  const authors = authorsOf(list).filter((a) => a.id !== userId)
  const hasMine = list.some((a) => a.author.id === userId)
  return (
    <fieldset class="filters">
      <legend>{t('filters')}</legend>
      <div class="field">
        <label for="filter-section">{t('section')}</label>
        <select id="filter-section" value={filters.section} onChange={(e) => setFilters({ ...filters, section: e.currentTarget.value })}>
          <option value="">{t('all_sections')}</option>
          {sections
            .filter((s) => !s.id.startsWith('pending-'))
            .map((s) => (
              <option key={s.id} value={s.id}>
                {excerpt(sectionLabel(s), 60)}
              </option>
            ))}
        </select>
      </div>
      <div class="field">
        <label for="filter-status">{t('status')}</label>
        <select id="filter-status" value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.currentTarget.value as Filters['status'] })}>
          <option value="">{t('all_statuses')}</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusName(s)}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="filter-author">{t('author')}</label>
        <select id="filter-author" value={filters.author} onChange={(e) => setFilters({ ...filters, author: e.currentTarget.value })}>
          <option value="">{t('all_authors')}</option>
          {hasMine && <option value={String(userId)}>{t('mine')}</option>}
          {authors.map((a) => (
            <option key={a.id} value={String(a.id)}>
              {a.name}
            </option>
          ))}
        </select>
      </div>
    </fieldset>
  )
}

function ProposeForm({
  session,
  live,
  initialParagraph,
  capReached,
  ownPending,
  max,
  onDone,
  onCancel,
}: {
  session: DocumentSession
  live: LiveText
  initialParagraph: string
  capReached: boolean
  ownPending: number
  max: number
  onDone: (view: AmendmentView) => void
  onCancel: () => void
}) {
  const paragraphs = paragraphsOf(live.sections)
  const [target, setTarget] = useState(initialParagraph)
  const [kind, setKind] = useState<ParagraphKind>('replace')
  const [draft, setDraft] = useState('')
  const [touched, setTouched] = useState(false)
  const [rationale, setRationale] = useState('')
  const { run, busy, feedback, setError } = useAction({ max })
  const select = useRef<HTMLSelectElement>(null)
  const current = paragraphs.find((p) => p.id === target)
  const currentText = current?.text ?? ''

  useEffect(() => select.current?.focus(), [])
  // The replacement starts as a copy of the paragraph (until the person types).
  useEffect(() => {
    if (!touched) setDraft(kind === 'replace' ? currentText : '')
  }, [target, kind, currentText, touched])

  const proposed = oneParagraph(draft)
  const preview =
    kind === 'replace' ? wordDiff(currentText, proposed) : kind === 'delete' ? wordDiff(currentText, '') : wordDiff('', proposed)

  const submit = (event: Event) => {
    event.preventDefault()
    if (!current) return setError(t('need_paragraph'))
    if (kind !== 'delete' && !proposed) return setError(t('need_text'))
    if (kind === 'replace' && proposed === currentText.trim()) return setError(t('same_text'))
    if (!rationale.trim()) return setError(t('need_rationale'))
    void run(async () => {
      const body: NewAmendment = {
        kind,
        target: current.id,
        text:
          kind === 'delete'
            ? null
            : kind === 'replace'
              ? respan(live.spans.get(current.id) ?? [{ text: currentText, em: false, strong: false }], proposed)
              : [{ text: proposed, em: false, strong: false }],
        rationale: rationale.trim(),
      }
      const view = await api<AmendmentView>('POST', amendmentsPath(session.id), body)
      onDone(view)
      return t('tabled', { label: view.label })
    })
  }

  return (
    <form class="card propose" aria-labelledby="propose-title" onSubmit={submit} noValidate>
      <h3 id="propose-title">{t('form_title')}</h3>
      <div class="field">
        <label for="propose-paragraph">{t('paragraph')}</label>
        <select
          id="propose-paragraph"
          ref={select}
          value={target}
          onChange={(e) => {
            setTarget(e.currentTarget.value)
            setTouched(false)
          }}
        >
          <option value="">{t('choose')}</option>
          {live.sections.map((section) => {
            const items = section.paragraphs.filter((p) => p.id)
            if (items.length === 0) return null
            return (
              <optgroup key={section.id} label={excerpt(sectionLabel(section), 60)}>
                {items.map((p) => (
                  <option key={p.id} value={p.id!}>
                    {`${p.number ?? '¶'} — ${excerpt(p.text, 70)}`}
                  </option>
                ))}
              </optgroup>
            )
          })}
        </select>
      </div>
      {current && kind !== 'replace' && (
        <div class="current-text">
          <p class="small muted">{t('current_text')}</p>
          <blockquote>{currentText}</blockquote>
        </div>
      )}
      <fieldset class="kind-choice">
        <legend>{t('kind')}</legend>
        {PARAGRAPH_KINDS.map((k) => (
          <label key={k} class="inline">
            <input
              type="radio"
              name="amendment-kind"
              value={k}
              checked={kind === k}
              onChange={() => {
                setKind(k)
                setTouched(false)
              }}
            />
            {t(`kind_${k}`)}
          </label>
        ))}
      </fieldset>
      {kind !== 'delete' && (
        <label>
          {kind === 'replace' ? t('new_text') : t('new_paragraph')}
          <textarea
            rows={6}
            maxLength={5000}
            value={draft}
            aria-describedby="propose-text-hint"
            onInput={(e) => {
              setDraft(e.currentTarget.value)
              setTouched(true)
            }}
          />
        </label>
      )}
      {kind !== 'delete' && (
        <p id="propose-text-hint" class="small muted">
          {t('one_paragraph')}
        </p>
      )}
      {current && (
        <div class="preview">
          <p class="small muted">{t('preview')}</p>
          <Diff ops={preview} />
        </div>
      )}
      <label>
        {t('rationale')}
        <textarea
          rows={3}
          maxLength={2000}
          value={rationale}
          aria-describedby="propose-rationale-hint"
          onInput={(e) => setRationale(e.currentTarget.value)}
        />
      </label>
      <p id="propose-rationale-hint" class="small muted">
        {t('rationale_hint')}
      </p>
      {capReached && (
        <p class="error" role="alert">
          {t('cap', { count: num(ownPending) })}
        </p>
      )}
      {feedback}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || capReached}>
          {t('submit')}
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          {t('cancel')}
        </button>
      </div>
    </form>
  )
}

function AmendmentCard({
  a,
  all,
  session,
  record,
  onChanged,
}: {
  a: AmendmentView
  all: AmendmentView[]
  session: DocumentSession
  record: DocumentView
  onChanged: (view: AmendmentView) => void
}) {
  const user = session.user
  const mine = a.author.id === user.id
  const supporting = a.supporters.some((s) => s.id === user.id)
  const canSupport = user.role !== 'observer' && !mine && a.status === 'submitted'
  const canWithdraw = mine && isPending(a.status) && a.ballot == null
  const secretariat = user.role === 'secretariat'
  const screenable =
    secretariat &&
    (['submitted', 'fallen', 'void'].includes(a.status) || (a.status === 'to_vote' && a.ballot == null)) &&
    ['amendments', 'voting', 'final_vote'].includes(record.phase)
  const [confirming, setConfirming] = useState(false)
  const withdrawButton = useRef<HTMLButtonElement>(null)
  const { run, busy, feedback } = useAction({ min: record.min_supporters })
  const path = `${amendmentsPath(session.id)}/${a.id}`
  const titleId = `amendment-${a.id}-title`
  const last = a.history[a.history.length - 1]
  const target = targetName(a)
  const labels = (ids: number[]) => ids.map((id) => all.find((x) => x.id === id)?.label ?? `A${id}`).join(', ')

  const support = (add: boolean) =>
    run(async () => {
      onChanged(await api<AmendmentView>(add ? 'POST' : 'DELETE', `${path}/support`, add ? {} : undefined))
      return t(add ? 'supported' : 'unsupported', { label: a.label })
    })
  const withdraw = () =>
    run(async () => {
      onChanged(await api<AmendmentView>('POST', `${path}/withdraw`, {}))
      setConfirming(false)
      return t('withdrawn', { label: a.label })
    })

  return (
    <article class={`card amendment status-${a.status}`} id={`amendment-${a.id}`} aria-labelledby={titleId}>
      <header class="amendment-header">
        <h3 id={titleId} tabIndex={-1}>
          {amendmentTitle(a)}
        </h3>
        <span class={`status-badge status-${a.status}`}>{statusName(a.status)}</span>
        {mine && <span class="badge">{t('mine_badge')}</span>}
      </header>
      <p class="small muted">{t('by', { name: a.author.name, date: dateTime(a.created_at) })}</p>
      {(a.outdated || !a.target_exists || a.competing.length > 0) && (
        <ul class="flags">
          {a.outdated && a.target_exists && <li class="flag warning">{t('outdated', { target })}</li>}
          {!a.target_exists && <li class="flag warning">{t('target_gone')}</li>}
          {a.competing.length > 0 && (
            <li class="flag conflict">
              {a.vote_rank
                ? t('competes', { labels: labels(a.competing), rank: num(a.vote_rank), total: num(a.competing.length + 1) })
                : t('competes_no_rank', { labels: labels(a.competing) })}
            </li>
          )}
        </ul>
      )}
      {a.kind === 'insert_after' && a.current_text && (
        <p class="small muted">{t('after', { start: excerpt(plainText(a.current_text), 80) })}</p>
      )}
      <Diff ops={a.diff} class="amendment-diff" />
      {a.kind === 'insert_section' && a.paragraphs.length > 0 && (
        <ol class="new-paragraphs">
          {a.paragraphs.map((p, i) => (
            <li key={i}>
              <ins>{plainText(p)}</ins>
            </li>
          ))}
        </ol>
      )}
      {a.outdated && a.base_text && (
        <details>
          <summary>{t('written_text')}</summary>
          <blockquote>{plainText(a.base_text)}</blockquote>
        </details>
      )}
      <p class="rationale">
        <strong>{t('rationale_label')}</strong> {a.rationale}
      </p>
      <p class="small">
        {a.supporters.length > 0 ? t('supporters', { names: a.supporters.map((s) => s.name).join(', ') }) : t('no_supporters')}
        {a.status === 'submitted' && record.min_supporters > 0 && (
          <span class="muted"> · {t('supporters_needed', { count: num(a.supporters.length), min: num(record.min_supporters) })}</span>
        )}
      </p>
      {last?.reason && !isPending(a.status) && <p class="small decision-note">{t('decision_note', { reason: last.reason })}</p>}
      {a.revises != null && <p class="small muted">{t('revises', { label: `A${a.revises}` })}</p>}
      {a.revised_by != null && <p class="small muted">{t('revised_by', { label: `A${a.revised_by}` })}</p>}
      {a.status === 'to_vote' && a.ballot == null && record.phase === 'amendments' && (
        <p class="small muted">{t('voted_later')}</p>
      )}
      <div class="actions">
        {canSupport &&
          (supporting ? (
            <button type="button" disabled={busy} onClick={() => void support(false)}>
              {t('unsupport')}
            </button>
          ) : (
            <button type="button" class="primary" disabled={busy} onClick={() => void support(true)}>
              {t('support')}
            </button>
          ))}
        {canWithdraw && !confirming && (
          <button ref={withdrawButton} type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
            {t('withdraw')}
          </button>
        )}
        {a.ballot != null && (
          <Link class="button-link" href={`${documentPath(session.id, 'votes')}?ballot=${a.ballot}`}>
            {t('see_ballot')}
          </Link>
        )}
        {secretariat && a.status === 'to_vote' && a.ballot == null && record.phase === 'voting' && (
          <Link class="button-link" href={`${documentPath(session.id, 'votes')}?amendment=${a.id}`}>
            {t('open_ballot')}
          </Link>
        )}
      </div>
      {confirming && (
        <Confirm
          text={t('withdraw_confirm', { label: a.label })}
          yes={t('withdraw_yes')}
          busy={busy}
          onYes={() => void withdraw()}
          onCancel={() => {
            setConfirming(false)
            requestAnimationFrame(() => withdrawButton.current?.focus())
          }}
        />
      )}
      {feedback}
      {screenable && <ScreenPanel a={a} record={record} path={path} onChanged={onChanged} />}
      {a.history.length > 1 && (
        <details class="history">
          <summary>{t('history')}</summary>
          <ol>
            {a.history.map((h, i) => (
              <li key={i}>
                {t('history_item', { status: statusName(h.status), date: dateTime(h.at) })}
                {h.reason && <span class="muted"> — {h.reason}</span>}
              </li>
            ))}
          </ol>
        </details>
      )}
    </article>
  )
}

function ScreenPanel({
  a,
  record,
  path,
  onChanged,
}: {
  a: AmendmentView
  record: DocumentView
  path: string
  onChanged: (view: AmendmentView) => void
}) {
  const [reason, setReason] = useState('')
  const { run, busy, feedback, setError } = useAction({ min: record.min_supporters })
  const reasonId = `screen-reason-${a.id}`
  const screen = (decision: ScreeningDecision) => {
    if (decision === 'inadmissible' && !reason.trim()) {
      setError(t('need_reason'))
      document.getElementById(reasonId)?.focus()
      return
    }
    void run(async () => {
      onChanged(await api<AmendmentView>('POST', `${path}/screen`, { decision, reason: reason.trim() || null }))
      setReason('')
      return t(`screened_${decision}`, { label: a.label })
    })
  }
  return (
    <details class="screen">
      <summary>{t('screen')}</summary>
      <label for={reasonId}>{t('screen_reason')}</label>
      <textarea id={reasonId} rows={2} maxLength={2000} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      {feedback}
      <div class="actions">
        {record.phase !== 'final_vote' && (
          <button type="button" disabled={busy} onClick={() => screen('accept')}>
            {t('accept')}
          </button>
        )}
        <button type="button" class="primary" disabled={busy} onClick={() => screen('vote')}>
          {t('to_vote')}
        </button>
        <button type="button" class="danger" disabled={busy} onClick={() => screen('inadmissible')}>
          {t('inadmissible')}
        </button>
      </div>
    </details>
  )
}

function VotingOrder({
  session,
  groups,
  onSaved,
}: {
  session: DocumentSession
  groups: { target: string; amendments: AmendmentView[] }[]
  onSaved: () => void
}) {
  return (
    <section class="card voting-order" aria-labelledby="order-title">
      <h3 id="order-title">{t('order_title')}</h3>
      <p class="small muted">{t('order_hint')}</p>
      {groups.map((group) => (
        <OrderGroup key={`${group.target}:${group.amendments.map((a) => a.id).join(',')}`} session={session} group={group} onSaved={onSaved} />
      ))}
    </section>
  )
}

function OrderGroup({
  session,
  group,
  onSaved,
}: {
  session: DocumentSession
  group: { target: string; amendments: AmendmentView[] }
  onSaved: () => void
}) {
  const [order, setOrder] = useState(group.amendments)
  const [refocus, setRefocus] = useState<string | null>(null)
  const { run, busy, feedback } = useAction()
  const list = useRef<HTMLOListElement>(null)
  useEffect(() => {
    if (!refocus) return
    list.current?.querySelector<HTMLButtonElement>(`[data-order="${refocus}"]`)?.focus()
    setRefocus(null)
  }, [refocus])
  const move = (index: number, by: number) => {
    const item = order[index]
    const to = index + by
    setOrder(moveItem(order, index, to))
    // Keep the focus on the moved amendment's button, or its other one once at either end.
    const direction = by < 0 ? (to === 0 ? 'down' : 'up') : to === order.length - 1 ? 'up' : 'down'
    setRefocus(`${item.id}-${direction}`)
  }
  const unchanged = order.every((a, i) => a.id === group.amendments[i].id)
  return (
    <div class="order-group">
      <h4>{t('order_group', { target: targetName(group.amendments[0]) })}</h4>
      <ol ref={list}>
        {order.map((a, i) => (
          <li key={a.id}>
            <span class="order-label">
              <strong>{a.label}</strong> {kindTitle(a.kind, targetName(a))} <span class="muted">— {a.author.name}</span>
            </span>
            <span class="order-buttons">
              <button
                type="button"
                data-order={`${a.id}-up`}
                aria-label={t('move_up', { label: a.label })}
                disabled={i === 0 || busy}
                onClick={() => move(i, -1)}
              >
                ↑
              </button>
              <button
                type="button"
                data-order={`${a.id}-down`}
                aria-label={t('move_down', { label: a.label })}
                disabled={i === order.length - 1 || busy}
                onClick={() => move(i, 1)}
              >
                ↓
              </button>
            </span>
          </li>
        ))}
      </ol>
      {feedback}
      <button
        type="button"
        disabled={busy || unchanged}
        onClick={() =>
          void run(async () => {
            await api('PUT', `${amendmentsPath(session.id)}/order`, { target: group.target, order: order.map((a) => a.id) })
            onSaved()
            return t('order_saved')
          })
        }
      >
        {t('save_order')}
      </button>
    </div>
  )
}
