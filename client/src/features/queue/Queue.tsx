// My queue: what awaits my decision across documents (GET /api/me/decisions): the open ballots
// I may vote in and have not voted in, the amendments I may support and, for the secretariat,
// those to screen; each a link to the right tab. Live: it follows the events of the documents
// where decisions are made, and reloads when the page comes back into view.
import { useEffect, useRef, useState } from 'preact/hooks'
import { api } from '../../api/client'
import type { AmendmentRef, AmendmentView, BallotView, DecisionsView, DocumentView } from '../../api/types'
import { EventFeed } from '../../document/events'
import { dateTime, messages, num } from '../../i18n'
import { documentPath } from '../../router'
import { isObserver, isSecretariat } from '../../session'
import { phaseName } from '../../ui/common'
import { Link } from '../../ui/Link'
import { LoadState, amendmentTitle } from '../amendments/parts'
import { excerpt, typo } from '../amendments/text'
import { ballotQuestion } from '../votes/rules'

const t = messages({
  en: {
    title: 'My queue',
    intro: 'What awaits your decision, in every document that is not archived.',
    loading: 'Loading…',
    refresh: 'Refresh',
    ballots: 'Ballots awaiting your vote',
    ballots_none: 'No ballot awaits your vote.',
    support: 'Amendments you can support',
    support_none: 'No amendment awaits your support.',
    support_in_screen: 'The amendments you could support also await your screening: they are listed above.',
    screen: 'Amendments to screen',
    screen_none: 'No amendment awaits screening.',
    observer: 'As an observer, nothing awaits your decision: you can follow the documents, their amendments and their votes.',
    all_done: 'Nothing awaits you right now.',
    in_document: 'in {title}',
    closes: 'closes on {date}',
    voted_so_far: 'voted so far: {voted} of {eligible}',
    by: 'by {name}',
    supporters: 'supporters: {count}',
    supporters_needed: 'supporters needed: {count} of {min}',
    vote_now: 'Vote',
    count: '({count})',
  },
  fr: typo({
    title: 'Mes tâches',
    intro: 'Ce qui attend votre décision, dans chaque document non archivé.',
    loading: 'Chargement…',
    refresh: 'Actualiser',
    ballots: 'Scrutins qui attendent votre vote',
    ballots_none: 'Aucun scrutin n’attend votre vote.',
    support: 'Amendements que vous pouvez soutenir',
    support_none: 'Aucun amendement n’attend votre soutien.',
    support_in_screen: 'Les amendements que vous pourriez soutenir attendent aussi votre examen : ils figurent plus haut.',
    screen: 'Amendements à examiner',
    screen_none: 'Aucun amendement n’attend d’examen.',
    observer: 'Comme observateur·rice, rien n’attend votre décision : vous pouvez suivre les documents, leurs amendements et leurs votes.',
    all_done: 'Rien ne vous attend pour l’instant.',
    in_document: 'dans {title}',
    closes: 'se ferme le {date}',
    voted_so_far: 'ont voté : {voted} sur {eligible}',
    by: 'par {name}',
    supporters: 'soutiens : {count}',
    supporters_needed: 'soutiens nécessaires : {count} sur {min}',
    vote_now: 'Voter',
    count: '({count})',
  }),
})

interface QueueData {
  decisions: DecisionsView
  documents: Map<string, DocumentView>
  amendments: Map<string, AmendmentView[]>
}

/** Documents whose events can change the queue: those in a phase with decisions. */
const LIVE_PHASES = new Set(['amendments', 'voting', 'final_vote'])
/** At most this many event streams at once (browsers allow few connections per server). */
const MAX_FEEDS = 3

export function Queue() {
  const [data, setData] = useState<QueueData | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const latest = useRef(0)

  async function load() {
    const mine = ++latest.current
    setBusy(true)
    try {
      const [decisions, documents] = await Promise.all([
        api<DecisionsView>('GET', '/api/me/decisions'),
        api<DocumentView[]>('GET', '/api/documents'),
      ])
      const ids = new Set([...decisions.amendments_to_support, ...decisions.amendments_to_screen].map((a) => a.document))
      const lists = await Promise.all(
        [...ids].map(async (id) => [id, await api<AmendmentView[]>('GET', `/api/documents/${encodeURIComponent(id)}/amendments`)] as const),
      )
      if (mine !== latest.current) return
      setData({ decisions, documents: new Map(documents.map((d) => [d.id, d])), amendments: new Map(lists) })
      setError(null)
    } catch (failure) {
      if (mine === latest.current) setError(failure)
    } finally {
      if (mine === latest.current) setBusy(false)
    }
  }

  useEffect(() => {
    void load()
    const again = () => {
      if (document.visibilityState === 'visible') void load()
    }
    document.addEventListener('visibilitychange', again)
    return () => document.removeEventListener('visibilitychange', again)
  }, [])

  // Follow the documents where decisions are made.
  const live = data
    ? [...data.documents.values()]
        .filter((d) => LIVE_PHASES.has(d.phase))
        .map((d) => d.id)
        .sort()
        .slice(0, MAX_FEEDS)
        .join('\n')
    : ''
  useEffect(() => {
    if (!live) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const feeds = live.split('\n').map((id) => {
      const feed = new EventFeed(`/api/documents/${encodeURIComponent(id)}/events`)
      feed.on(['amendment.', 'ballot.', 'phase.'], () => {
        clearTimeout(timer)
        timer = setTimeout(() => void load(), 150)
      })
      feed.start()
      return feed
    })
    return () => {
      clearTimeout(timer)
      feeds.forEach((feed) => feed.stop())
    }
  }, [live])

  const observer = isObserver()
  const secretariat = isSecretariat()

  return (
    <section class="page queue" aria-labelledby="queue-title">
      <div class="queue-head">
        <h1 id="queue-title">{t('title')}</h1>
        <button type="button" onClick={() => void load()} disabled={busy}>
          {t('refresh')}
        </button>
      </div>
      <p class="muted">{observer ? t('observer') : t('intro')}</p>
      <LoadState loaded={data !== null} error={error} loading={t('loading')} busy={busy} onRetry={() => void load()} />
      {data && !observer && <QueueLists data={data} secretariat={secretariat} />}
    </section>
  )
}

function QueueLists({ data, secretariat }: { data: QueueData; secretariat: boolean }) {
  const { decisions } = data
  const title = (id: string) => data.documents.get(id)?.title ?? id
  const toScreen = secretariat ? decisions.amendments_to_screen : []
  // The secretariat's amendments to screen are also ones it may support: listed once.
  const toSupport = decisions.amendments_to_support.filter(
    (ref) => !toScreen.some((s) => s.document === ref.document && s.amendment === ref.amendment),
  )
  const empty = decisions.ballots.length === 0 && toSupport.length === 0 && toScreen.length === 0
  return (
    <>
      {empty && <p class="card success">{t('all_done')}</p>}
      <section class="queue-group" aria-labelledby="queue-ballots">
        <h2 id="queue-ballots">
          {t('ballots')} <span class="badge">{num(decisions.ballots.length)}</span>
        </h2>
        {decisions.ballots.length === 0 ? (
          <p class="muted">{t('ballots_none')}</p>
        ) : (
          <ul class="queue-list">
            {decisions.ballots.map((b) => (
              <BallotItem key={`${b.document}:${b.id}`} b={b} title={title(b.document)} />
            ))}
          </ul>
        )}
      </section>
      {secretariat && (
        <section class="queue-group" aria-labelledby="queue-screen">
          <h2 id="queue-screen">
            {t('screen')} <span class="badge">{num(toScreen.length)}</span>
          </h2>
          {toScreen.length === 0 ? (
            <p class="muted">{t('screen_none')}</p>
          ) : (
            <ul class="queue-list">
              {toScreen.map((ref) => (
                <AmendmentItem key={`${ref.document}:${ref.amendment}`} ref_={ref} data={data} title={title(ref.document)} screening />
              ))}
            </ul>
          )}
        </section>
      )}
      <section class="queue-group" aria-labelledby="queue-support">
        <h2 id="queue-support">
          {t('support')} <span class="badge">{num(toSupport.length)}</span>
        </h2>
        {toSupport.length === 0 ? (
          <p class="muted">{decisions.amendments_to_support.length > 0 ? t('support_in_screen') : t('support_none')}</p>
        ) : (
          <ul class="queue-list">
            {toSupport.map((ref) => (
              <AmendmentItem key={`${ref.document}:${ref.amendment}`} ref_={ref} data={data} title={title(ref.document)} />
            ))}
          </ul>
        )}
      </section>
    </>
  )
}

function BallotItem({ b, title }: { b: BallotView; title: string }) {
  return (
    <li class="card queue-item">
      <Link href={`${documentPath(b.document, 'votes')}?ballot=${b.id}`} class="queue-link">
        {ballotQuestion(b)}
      </Link>
      <p class="small muted">
        {t('in_document', { title })} · {t('voted_so_far', { voted: num(b.n_voted), eligible: num(b.n_eligible) })}
        {b.deadline && ` · ${t('closes', { date: dateTime(b.deadline) })}`}
      </p>
    </li>
  )
}

function AmendmentItem({ ref_, data, title, screening = false }: { ref_: AmendmentRef; data: QueueData; title: string; screening?: boolean }) {
  const a = data.amendments.get(ref_.document)?.find((x) => x.id === ref_.amendment)
  const record = data.documents.get(ref_.document)
  const min = record?.min_supporters ?? 0
  return (
    <li class="card queue-item">
      <Link href={`${documentPath(ref_.document, 'amendments')}?amendment=${ref_.amendment}`} class="queue-link">
        {a ? amendmentTitle(a) : ref_.label}
      </Link>
      <p class="small muted">
        {t('in_document', { title })}
        {record && ` (${phaseName(record.phase)})`}
        {a && ` · ${t('by', { name: a.author.name })}`}
        {a && screening && ` · ${min > 0 ? t('supporters_needed', { count: num(a.supporters.length), min: num(min) }) : t('supporters', { count: num(a.supporters.length) })}`}
      </p>
      {a && <p class="small">{excerpt(a.rationale, 140)}</p>}
    </li>
  )
}
