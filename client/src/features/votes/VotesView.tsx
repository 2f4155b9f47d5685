// The Votes tab: the open ballots with their rules in words and big yes / no / abstain buttons
// (a vote can be changed until the ballot closes), then the results with their counts and rule,
// the final ballot on the whole text among them. The secretariat opens ballots (on amendments
// put to a vote, in the Voting phase; on the whole text, in the Final vote phase) and closes
// them. Live on ballot, vote and amendment events; results are announced.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api } from '../../api/client'
import type {
  AmendmentView,
  BallotRules,
  BallotsView,
  BallotSummary,
  BallotView,
  Choice,
  DocumentView,
  Majority,
  MemberView,
  NewBallotInput,
  VoteReceiptView,
} from '../../api/types'
import type { DocumentSession } from '../../document/session'
import { dateTime, messages, num } from '../../i18n'
import { documentPath } from '../../router'
import { announce } from '../../ui/announce'
import { localToIso, phaseName } from '../../ui/common'
import { Link } from '../../ui/Link'
import { Confirm, Diff, LoadState, amendmentTitle, useAction, useRevealHeading } from '../amendments/parts'
import { typo } from '../amendments/text'
import { ballotQuestion, choiceName, countsText, eligibleCount, outcomeSentence, participationText, resultName, ruleSentences } from './rules'

const t = messages({
  en: {
    title: 'Votes',
    note_voting: 'The amendments put to a vote are voted on in this phase, one ballot each.',
    note_final: 'The final vote on the whole text takes place in this phase.',
    note_other: 'Ballots take place in the Voting phase (amendments) and the Final vote phase (the whole text).',
    note_deadline: 'The deadline of this phase has passed: no more votes are taken.',
    loading: 'Loading the ballots…',
    open_title: 'Open ballots',
    none_open: 'No ballot is open.',
    results_title: 'Results',
    none_closed: 'No result yet.',
    on_amendment: 'On amendment {title}',
    on_final: 'On adopting the whole text',
    final_badge: 'Final vote',
    see_amendment: 'See the amendment',
    status_open: 'Open',
    status_closing: 'Counting…',
    voted_count: 'Voted so far: {voted} of {eligible}.',
    closes_at: 'Closes by itself on {date}.',
    live_counts: 'Counts so far: {counts}.',
    your_vote: 'Your vote',
    you_voted: 'You voted “{choice}”. You can change your vote until the ballot closes.',
    not_voted: 'You have not voted yet.',
    vote_saved: 'Your vote “{choice}” is recorded.',
    vote_changed: 'Your vote is now “{choice}”.',
    not_eligible: 'You are not among the eligible voters of this ballot.',
    observer: 'Observers follow the ballots; they do not vote.',
    cannot_vote: 'Votes are not taken now (the phase or its deadline).',
    close: 'Close the ballot',
    close_confirm: 'Close this ballot now? The votes are counted and no more are taken.',
    close_yes: 'Yes, close it',
    closed_on: 'Closed on {date}.',
    voters: 'Who voted ({count})',
    roll_call: 'Votes by name',
    name: 'Name',
    choice: 'Vote',
    announce_opened: 'A ballot has opened: {question}',
    announce_result: 'Result of “{question}”: {outcome}',
    open_form: 'Open a ballot',
    open_hint_phase: 'Ballots open in the Voting phase (amendments put to a vote) and the Final vote phase (the whole text); the document is in the {phase} phase.',
    subject: 'Subject',
    final_text: 'The whole text (final vote)',
    no_subject: 'No amendment awaits a ballot: put amendments to a vote in the Amendments tab first.',
    final_open: 'A final ballot is already open.',
    question: 'Question (optional)',
    question_hint: 'Left empty, the server asks the usual question for this subject.',
    majority: 'Majority',
    majority_simple: 'Simple: more yes than no',
    majority_absolute: 'Absolute: yes from more than half of the eligible voters',
    majority_two_thirds: 'Two thirds of the votes cast',
    quorum_on: 'Require a quorum',
    quorum_share: 'Quorum (% of the eligible voters who must take part)',
    visibility: 'Secrecy',
    secret: 'Secret ballot',
    roll_call_choice: 'Roll call (votes published at the close)',
    results: 'Counts',
    results_hidden: 'Hidden until the close',
    results_live: 'Shown live',
    deadline: 'Closes by itself at (optional)',
    rules_preview: 'Voters will read:',
    open_submit: 'Open the ballot',
    opened: 'Ballot opened: {question}',
    closed: 'Ballot closed. {outcome}',
    amendments_tab: 'Go to the amendments',
  },
  fr: typo({
    title: 'Votes',
    note_voting: 'Les amendements soumis au vote sont mis aux voix pendant cette phase, un scrutin chacun.',
    note_final: 'Le vote final sur l’ensemble du texte a lieu pendant cette phase.',
    note_other: 'Les scrutins ont lieu pendant la phase « Vote » (amendements) et la phase « Vote final » (l’ensemble du texte).',
    note_deadline: 'L’échéance de cette phase est passée : plus aucun vote n’est reçu.',
    loading: 'Chargement des scrutins…',
    open_title: 'Scrutins ouverts',
    none_open: 'Aucun scrutin n’est ouvert.',
    results_title: 'Résultats',
    none_closed: 'Aucun résultat pour l’instant.',
    on_amendment: 'Sur l’amendement {title}',
    on_final: 'Sur l’adoption de l’ensemble du texte',
    final_badge: 'Vote final',
    see_amendment: 'Voir l’amendement',
    status_open: 'Ouvert',
    status_closing: 'Dépouillement…',
    voted_count: 'Ont voté : {voted} sur {eligible}.',
    closes_at: 'Se ferme automatiquement le {date}.',
    live_counts: 'Décompte provisoire : {counts}.',
    your_vote: 'Votre vote',
    you_voted: 'Vous avez voté « {choice} ». Vous pouvez changer votre vote jusqu’à la clôture.',
    not_voted: 'Vous n’avez pas encore voté.',
    vote_saved: 'Votre vote « {choice} » est enregistré.',
    vote_changed: 'Votre vote est maintenant « {choice} ».',
    not_eligible: 'Vous ne faites pas partie des votant·es de ce scrutin.',
    observer: 'Les observateur·rices suivent les scrutins sans voter.',
    cannot_vote: 'Aucun vote n’est reçu pour l’instant (phase ou échéance).',
    close: 'Clore le scrutin',
    close_confirm: 'Clore ce scrutin maintenant ? Les votes sont dépouillés et plus aucun n’est reçu.',
    close_yes: 'Oui, le clore',
    closed_on: 'Clos le {date}.',
    voters: 'Ont voté ({count})',
    roll_call: 'Votes nominatifs',
    name: 'Nom',
    choice: 'Vote',
    announce_opened: 'Un scrutin est ouvert : {question}',
    announce_result: 'Résultat de « {question} » : {outcome}',
    open_form: 'Ouvrir un scrutin',
    open_hint_phase: 'Les scrutins s’ouvrent pendant la phase « Vote » (amendements soumis au vote) et la phase « Vote final » (l’ensemble du texte) ; le document est en phase « {phase} ».',
    subject: 'Objet',
    final_text: 'L’ensemble du texte (vote final)',
    no_subject: 'Aucun amendement n’attend de scrutin : soumettez d’abord des amendements au vote dans l’onglet Amendements.',
    final_open: 'Un scrutin final est déjà ouvert.',
    question: 'Question (facultative)',
    question_hint: 'Laissée vide, le serveur pose la question habituelle pour cet objet.',
    majority: 'Majorité',
    majority_simple: 'Simple : plus de « pour » que de « contre »',
    majority_absolute: 'Absolue : « pour » de plus de la moitié des membres appelés à voter',
    majority_two_thirds: 'Deux tiers des suffrages exprimés',
    quorum_on: 'Exiger un quorum',
    quorum_share: 'Quorum (% des membres appelés à voter qui doivent participer)',
    visibility: 'Secret',
    secret: 'Vote à bulletin secret',
    roll_call_choice: 'Appel nominal (votes publiés à la clôture)',
    results: 'Décompte',
    results_hidden: 'Caché jusqu’à la clôture',
    results_live: 'Affiché en direct',
    deadline: 'Clôture automatique le (facultatif)',
    rules_preview: 'Les votant·es liront :',
    open_submit: 'Ouvrir le scrutin',
    opened: 'Scrutin ouvert : {question}',
    closed: 'Scrutin clos. {outcome}',
    amendments_tab: 'Aller aux amendements',
  }),
})

const CHOICES: Choice[] = ['yes', 'no', 'abstain']
const MAJORITIES: Majority[] = ['simple', 'absolute', 'two_thirds']

const ballotsPath = (id: string) => `/api/documents/${encodeURIComponent(id)}/ballots`

export function VotesView({ session }: { session: DocumentSession }) {
  const record = session.record.value!
  const user = session.user
  const initial = useMemo(() => new URLSearchParams(location.search), [])
  const [ballots, setBallots] = useState<BallotView[] | null>(null)
  const [amendments, setAmendments] = useState<AmendmentView[]>([])
  const [loadError, setLoadError] = useState<unknown>(null)
  const reveal = useRevealHeading('ballot', Number(initial.get('ballot')) || null, ballots)
  const latest = useRef(0)

  async function reload() {
    const mine = ++latest.current
    try {
      const [list, all] = await Promise.all([
        api<BallotsView>('GET', ballotsPath(session.id)),
        api<AmendmentView[]>('GET', `/api/documents/${encodeURIComponent(session.id)}/amendments`),
      ])
      if (mine !== latest.current) return
      setBallots(list.ballots)
      setAmendments(all)
      setLoadError(null)
    } catch (error) {
      if (mine === latest.current) setLoadError(error)
    }
  }

  const current = useRef(ballots)
  current.current = ballots

  useEffect(() => {
    void reload()
    let timer: ReturnType<typeof setTimeout> | undefined
    let liveCounts: ReturnType<typeof setTimeout> | undefined
    const off = session.feed.on(['ballot.', 'vote.', 'amendment.'], (event) => {
      if (event.kind === 'vote.cast') {
        // Many votes may come in a burst: the number of voters is in the event; counts shown
        // live are read again (that ballot only) at most once a second.
        const { ballot, n_voted } = (event.data ?? {}) as { ballot?: number; n_voted?: number }
        const target = current.current?.find((b) => b.id === ballot)
        if (!target || typeof n_voted !== 'number') return
        setBallots((old) => old && old.map((b) => (b.id === ballot ? { ...b, n_voted } : b)))
        if (target.rules.results === 'live' && !liveCounts) {
          liveCounts = setTimeout(() => {
            liveCounts = undefined
            api<BallotView>('GET', `${ballotsPath(session.id)}/${target.id}`).then(
              (fresh) => setBallots((old) => old && old.map((b) => (b.id === fresh.id ? fresh : b))),
              () => void reload(),
            )
          }, 1000)
        }
        return
      }
      const summary = event.data as BallotSummary | undefined
      if (event.kind === 'ballot.opened' && summary?.question && summary.opened_by !== user.id) {
        announce(t('announce_opened', { question: ballotQuestion(summary) }))
      }
      if (event.kind === 'ballot.closed' && summary?.outcome) {
        announce(t('announce_result', { question: ballotQuestion(summary), outcome: outcomeSentence(summary.outcome) }))
      }
      clearTimeout(timer)
      timer = setTimeout(() => void reload(), 100)
    })
    return () => {
      off()
      clearTimeout(timer)
      clearTimeout(liveCounts)
    }
  }, [session])

  const open = (ballots ?? []).filter((b) => b.status !== 'closed')
  const closed = (ballots ?? []).filter((b) => b.status === 'closed').reverse()
  const amendmentOf = (b: BallotView) =>
    b.subject.kind === 'amendment' ? amendments.find((a) => a.id === (b.subject as { amendment: number }).amendment) : undefined

  return (
    <section class="votes" aria-labelledby="votes-title">
      <h2 id="votes-title">{t('title')}</h2>
      <p class="muted">
        {record.phase === 'voting' ? t('note_voting') : record.phase === 'final_vote' ? t('note_final') : t('note_other')}
        {(record.phase === 'voting' || record.phase === 'final_vote') && record.deadline_passed && ` ${t('note_deadline')}`}
      </p>
      {user.role === 'secretariat' && ballots && (
        <OpenBallot
          session={session}
          record={record}
          amendments={amendments}
          ballots={ballots}
          initialAmendment={initial.get('amendment') ?? ''}
          onOpened={(view) => {
            setBallots((old) => [...(old ?? []).filter((b) => b.id !== view.id), view])
            reveal(view.id)
            void reload()
          }}
        />
      )}
      <LoadState loaded={ballots !== null} error={loadError} loading={t('loading')} onRetry={() => void reload()} />
      {ballots && (
        <>
          <section aria-labelledby="open-ballots-title">
            <h3 id="open-ballots-title">{t('open_title')}</h3>
            {open.length === 0 && <p class="muted">{t('none_open')}</p>}
            {open.map((b) => (
              <BallotCard key={b.id} b={b} amendment={amendmentOf(b)} session={session} onChanged={() => void reload()} />
            ))}
          </section>
          <section aria-labelledby="results-title">
            <h3 id="results-title">{t('results_title')}</h3>
            {closed.length === 0 && <p class="muted">{t('none_closed')}</p>}
            {closed.map((b) => (
              <BallotCard key={b.id} b={b} amendment={amendmentOf(b)} session={session} onChanged={() => void reload()} />
            ))}
          </section>
        </>
      )}
    </section>
  )
}

function BallotCard({
  b,
  amendment,
  session,
  onChanged,
}: {
  b: BallotView
  amendment: AmendmentView | undefined
  session: DocumentSession
  onChanged: () => void
}) {
  const user = session.user
  const titleId = `ballot-${b.id}-title`
  const isFinal = b.subject.kind === 'final_text'
  const amendmentNumber = b.subject.kind === 'amendment' ? b.subject.amendment : null
  const [confirming, setConfirming] = useState(false)
  const closeButton = useRef<HTMLButtonElement>(null)
  const { run, busy, feedback } = useAction()
  const closedState = b.status === 'closed'
  const outcome = b.outcome

  const close = () =>
    run(async () => {
      const view = await api<BallotView>('POST', `${ballotsPath(session.id)}/${b.id}/close`, {})
      setConfirming(false)
      onChanged()
      return view.outcome ? t('closed', { outcome: outcomeSentence(view.outcome) }) : t('closed', { outcome: '' })
    })

  return (
    <article
      class={`card ballot ${isFinal ? 'final' : ''} ${closedState ? `result-${outcome?.result ?? 'none'}` : 'open'}`}
      id={`ballot-${b.id}`}
      aria-labelledby={titleId}
    >
      <header class="ballot-header">
        <h4 id={titleId} tabIndex={-1}>
          {ballotQuestion(b)}
        </h4>
        {isFinal && <span class="badge final-badge">{t('final_badge')}</span>}
        {closedState && outcome ? (
          <span class={`status-badge result-${outcome.result}`}>{resultName(outcome.result)}</span>
        ) : (
          <span class="status-badge status-open">{b.status === 'closing' ? t('status_closing') : t('status_open')}</span>
        )}
      </header>
      {isFinal ? (
        <p class="subject">{t('on_final')}</p>
      ) : (
        <div class="subject">
          <p>
            {t('on_amendment', { title: amendment ? amendmentTitle(amendment) : `A${amendmentNumber}` })}{' '}
            <Link href={`${documentPath(session.id, 'amendments')}?amendment=${amendmentNumber}`}>{t('see_amendment')}</Link>
          </p>
          {amendment && !closedState && <Diff ops={amendment.diff} class="ballot-diff" />}
        </div>
      )}
      {closedState && outcome && (
        <div class="outcome">
          <p class="outcome-text">
            <strong>{outcomeSentence(outcome)}</strong>
          </p>
          <p class="small">
            {participationText(outcome.n_voted, outcome.n_eligible)}
            {b.closed_at && ` ${t('closed_on', { date: dateTime(b.closed_at) })}`}
          </p>
        </div>
      )}
      <p class="rule small">{ruleSentences(b.rules, b.n_eligible).join(' ')}</p>
      {!closedState && (
        <>
          <p class="small">
            <strong>{t('voted_count', { voted: num(b.n_voted), eligible: num(b.n_eligible) })}</strong>
            {b.deadline && ` ${t('closes_at', { date: dateTime(b.deadline) })}`}
          </p>
          {b.tally && <p class="small">{t('live_counts', { counts: countsText(b.tally) })}</p>}
          {user.role === 'observer' ? (
            <p class="muted">{t('observer')}</p>
          ) : !b.eligible ? (
            <p class="muted">{t('not_eligible')}</p>
          ) : b.can_vote ? (
            <VoteButtons b={b} session={session} onVoted={onChanged} />
          ) : (
            <p class="muted">{t('cannot_vote')}</p>
          )}
        </>
      )}
      {closedState && b.votes && b.votes.length > 0 && (
        <details>
          <summary>{t('roll_call')}</summary>
          <table class="list small">
            <thead>
              <tr>
                <th scope="col">{t('name')}</th>
                <th scope="col">{t('choice')}</th>
              </tr>
            </thead>
            <tbody>
              {b.votes.map((v) => (
                <tr key={v.voter}>
                  <td>{v.name}</td>
                  <td>{choiceName(v.choice)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
      {closedState && !b.votes && b.voters && b.voters.length > 0 && (
        <details>
          <summary>{t('voters', { count: num(b.voters.length) })}</summary>
          <p class="small">{b.voters.map((v) => v.name).join(', ')}</p>
        </details>
      )}
      {user.role === 'secretariat' && b.status === 'open' && (
        <div class="close-ballot">
          {!confirming ? (
            <button ref={closeButton} type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
              {t('close')}
            </button>
          ) : (
            <Confirm
              text={t('close_confirm')}
              yes={t('close_yes')}
              busy={busy}
              onYes={() => void close()}
              onCancel={() => {
                setConfirming(false)
                requestAnimationFrame(() => closeButton.current?.focus())
              }}
            />
          )}
        </div>
      )}
      {feedback}
    </article>
  )
}

function VoteButtons({ b, session, onVoted }: { b: BallotView; session: DocumentSession; onVoted: () => void }) {
  const [mine, setMine] = useState<Choice | null>(b.my_vote ?? null)
  const { run, busy, feedback } = useAction()
  useEffect(() => setMine(b.my_vote ?? null), [b.my_vote])
  const legendId = `ballot-${b.id}-vote`
  const vote = (choice: Choice) =>
    run(async () => {
      const receipt = await api<VoteReceiptView>('PUT', `${ballotsPath(session.id)}/${b.id}/vote`, { choice })
      setMine(receipt.choice)
      onVoted()
      return t(receipt.replaced ? 'vote_changed' : 'vote_saved', { choice: choiceName(receipt.choice) })
    })
  return (
    <div class="vote" role="group" aria-labelledby={legendId}>
      <p id={legendId} class="vote-legend">
        {t('your_vote')}
      </p>
      <div class="vote-buttons">
        {CHOICES.map((choice) => (
          <button
            key={choice}
            type="button"
            class={`vote-button vote-${choice}`}
            aria-pressed={mine === choice}
            disabled={busy}
            onClick={() => void vote(choice)}
          >
            {mine === choice && <span aria-hidden="true">✓ </span>}
            {choiceName(choice)}
          </button>
        ))}
      </div>
      <p class="small" aria-live="off">
        {mine ? t('you_voted', { choice: choiceName(mine) }) : t('not_voted')}
      </p>
      {feedback}
    </div>
  )
}

function OpenBallot({
  session,
  record,
  amendments,
  ballots,
  initialAmendment,
  onOpened,
}: {
  session: DocumentSession
  record: DocumentView
  amendments: AmendmentView[]
  ballots: BallotView[]
  initialAmendment: string
  onOpened: (view: BallotView) => void
}) {
  const waiting = amendments
    .filter((a) => a.status === 'to_vote' && a.ballot == null)
    .sort((x, y) => x.target.localeCompare(y.target) || (x.vote_rank ?? 1e9) - (y.vote_rank ?? 1e9) || x.id - y.id)
  const finalOpen = ballots.some((b) => b.subject.kind === 'final_text' && b.status !== 'closed')
  const [subject, setSubject] = useState(initialAmendment)
  const [question, setQuestion] = useState('')
  const [majority, setMajority] = useState<Majority>('simple')
  const [quorumOn, setQuorumOn] = useState(false)
  const [quorum, setQuorum] = useState(50)
  const [visibility, setVisibility] = useState<BallotRules['visibility']>('secret')
  const [results, setResults] = useState<NonNullable<BallotRules['results']>>('hidden')
  const [deadline, setDeadline] = useState('')
  const { run, busy, feedback } = useAction()

  const inVoting = record.phase === 'voting'
  const inFinal = record.phase === 'final_vote'
  const options: { value: string; label: string }[] = inVoting
    ? waiting.map((a) => ({ value: String(a.id), label: amendmentTitle(a) }))
    : inFinal && !finalOpen
      ? [{ value: 'final', label: t('final_text') }]
      : []
  const chosen = options.some((o) => o.value === subject) ? subject : (options[0]?.value ?? '')
  const chosenAmendment = waiting.find((a) => String(a.id) === chosen)
  const rules: BallotRules = { majority, quorum: quorumOn ? quorum / 100 : null, visibility, results }
  const eligible = useEligibleCount(record.secretariat_votes)

  if (!inVoting && !inFinal) {
    return (
      <section class="card open-ballot" aria-labelledby="open-ballot-title">
        <h3 id="open-ballot-title">{t('open_form')}</h3>
        <p class="muted">{t('open_hint_phase', { phase: phaseName(record.phase) })}</p>
      </section>
    )
  }
  if (options.length === 0) {
    return (
      <section class="card open-ballot" aria-labelledby="open-ballot-title">
        <h3 id="open-ballot-title">{t('open_form')}</h3>
        <p class="muted">{inFinal ? t('final_open') : t('no_subject')}</p>
        {inVoting && <Link href={documentPath(session.id, 'amendments')}>{t('amendments_tab')}</Link>}
      </section>
    )
  }
  // While ballots are open the form folds away, so they come first.
  const anyOpen = ballots.some((b) => b.status !== 'closed')
  return (
    <details class="card open-ballot-card" open={!anyOpen}>
      <summary>
        <span id="open-ballot-title" class="summary-title">
          {t('open_form')}
        </span>
      </summary>
      <form
        class="open-ballot"
        aria-labelledby="open-ballot-title"
        onSubmit={(event) => {
          event.preventDefault()
          void run(async () => {
            const body: NewBallotInput = {
              subject: chosen === 'final' ? { kind: 'final_text' } : { kind: 'amendment', amendment: Number(chosen) },
              question: question.trim() || null,
              rules,
              deadline: localToIso(deadline),
            }
            const view = await api<BallotView>('POST', ballotsPath(session.id), body)
            setQuestion('')
            setDeadline('')
            onOpened(view)
            return t('opened', { question: ballotQuestion(view) })
          })
        }}
      >
        <div class="field">
          <label for="ballot-subject">{t('subject')}</label>
          <select id="ballot-subject" value={chosen} onChange={(e) => setSubject(e.currentTarget.value)}>
            {options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
        {chosenAmendment && <Diff ops={chosenAmendment.diff} class="ballot-diff" />}
        <label>
          {t('question')}
          <input value={question} maxLength={500} aria-describedby="ballot-question-hint" onInput={(e) => setQuestion(e.currentTarget.value)} />
        </label>
        <p id="ballot-question-hint" class="small muted">
          {t('question_hint')}
        </p>
        <div class="rule-fields">
          <div class="field">
            <label for="ballot-majority">{t('majority')}</label>
            <select id="ballot-majority" value={majority} onChange={(e) => setMajority(e.currentTarget.value as Majority)}>
              {MAJORITIES.map((m) => (
                <option key={m} value={m}>
                  {t(`majority_${m}`)}
                </option>
              ))}
            </select>
          </div>
          <RadioChoice
            legend={t('visibility')}
            name="ballot-visibility"
            value={visibility}
            options={[
              ['secret', t('secret')],
              ['roll_call', t('roll_call_choice')],
            ]}
            onChange={setVisibility}
          />
          <RadioChoice
            legend={t('results')}
            name="ballot-results"
            value={results}
            options={[
              ['hidden', t('results_hidden')],
              ['live', t('results_live')],
            ]}
            onChange={setResults}
          />
          <label class="inline">
            <input type="checkbox" checked={quorumOn} onChange={(e) => setQuorumOn(e.currentTarget.checked)} />
            {t('quorum_on')}
          </label>
          {quorumOn && (
            <label>
              {t('quorum_share')}
              <input
                type="number"
                min={1}
                max={100}
                step={1}
                value={quorum}
                onInput={(e) => setQuorum(Math.min(100, Math.max(1, Number(e.currentTarget.value) || 1)))}
              />
            </label>
          )}
          <label>
            {t('deadline')}
            <input type="datetime-local" value={deadline} onInput={(e) => setDeadline(e.currentTarget.value)} />
          </label>
        </div>
        {eligible !== null && (
          <div class="rules-preview">
            <p class="small muted">{t('rules_preview')}</p>
            <p class="small">{ruleSentences(rules, eligible).join(' ')}</p>
          </div>
        )}
        {feedback}
        <button type="submit" class="primary" disabled={busy}>
          {t('open_submit')}
        </button>
      </form>
    </details>
  )
}

/** One choice among a few, as radio buttons under a legend. */
function RadioChoice<V extends string>({
  legend,
  name,
  value,
  options,
  onChange,
}: {
  legend: string
  name: string
  value: V
  options: [V, string][]
  onChange: (value: V) => void
}) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {options.map(([option, label]) => (
        <label class="inline" key={option}>
          <input type="radio" name={name} checked={value === option} onChange={() => onChange(option)} />
          {label}
        </label>
      ))}
    </fieldset>
  )
}

/** How many the ballot will call to vote: the active delegates (and the secretariat if the
 * document says so), from the member list the secretariat reads. */
function useEligibleCount(secretariatVotes: boolean): number | null {
  const [members, setMembers] = useState<MemberView[] | null>(null)
  useEffect(() => {
    api<MemberView[]>('GET', '/api/users').then(setMembers, () => setMembers(null))
  }, [])
  return members ? eligibleCount(members, secretariatVotes) : null
}
