// The History tab: the document's named versions; one of them to read; two of them (or one
// and the current text) compared, each change in its place; and, for one paragraph, every
// version that changed it, with the amendments and votes behind each change. What is shown is
// kept in the address (`?version=3`, `?from=2&to=5`, `?block=p-…`) so that it can be shared.
// New versions (phase changes, applied amendments, corrections) reload it live.
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { api, query } from '../../api/client'
import type {
  AmendmentView,
  BallotsView,
  BallotView,
  DocumentView,
  HistoryEntry,
  ManuscriptDiff,
  TextView,
  VersionSummary,
} from '../../api/types'
import type { DocumentSession } from '../../document/session'
import { dateTime, messages, num } from '../../i18n'
import { documentPath } from '../../router'
import { ErrorText } from '../../ui/action'
import { announce } from '../../ui/announce'
import { errorText, phaseName } from '../../ui/common'
import { Link } from '../../ui/Link'
import { layOut, onlyChanges, plain, type CompareItem, type CompareSection } from './compare'
import { RichText, WordDiff } from './RichText'

const t = messages({
  en: {
    title: 'History',
    versions_title: 'Named versions',
    versions_none: 'No named version yet.',
    version_n: 'Version {number}',
    kind_created: 'creation',
    kind_phase: 'phase change',
    kind_manual: 'named version',
    kind_correction: 'editorial correction',
    kind_amendment: 'amendment applied',
    name_created: 'Document created',
    name_correction: 'Editorial correction',
    name_amendment_adopted: 'Amendment {label} adopted',
    name_amendment_accepted: 'Amendment {label} accepted',
    in_phase: '{phase} phase',
    counts: '{sections} sections, {paragraphs} paragraphs',
    read: 'Read',
    read_label: 'Read version {number}',
    compare_title: 'Compare two versions',
    from: 'Older version',
    to: 'Newer version',
    current_text: 'The current text',
    compare: 'Compare',
    same_version: 'Choose two different versions.',
    block_title: 'History of a paragraph',
    block_pick: 'Paragraph',
    block_choose: 'Choose a paragraph…',
    block_show: 'Show its history',
    block_required: 'Choose a paragraph first.',
    heading_option: 'Heading of section {title}',
    preamble: 'Preamble',
    untitled: 'Untitled section',
    not_in_text: '{id} (no longer in the text)',
    text_loading: 'The text is loading…',
    loading: 'Loading…',
    version_title: 'Version {number}: {name}',
    version_meta: 'Taken on {date}, in the {phase} phase.',
    compare_title_versions: 'Changes from version {from} to version {to}',
    compare_title_current: 'Changes from version {from} to the current text',
    summary: 'Paragraphs: {added} added, {removed} removed, {changed} changed, {moved} moved.',
    section_summary: 'Sections: {added} added, {removed} removed, {changed} changed, {moved} moved.',
    only_changes: 'Show only what changed',
    no_changes: 'Nothing differs between these two texts.',
    flag_added: 'added',
    flag_removed: 'removed',
    flag_changed: 'changed',
    flag_moved: 'moved from {number}',
    flag_moved_unnumbered: 'moved',
    flag_formatting: 'formatting changed',
    old_heading: 'Heading before: {heading}',
    block_result_title: 'History of paragraph {number}',
    block_result_title_id: 'History of {id}',
    change_added: 'First appears',
    change_changed: 'Changed',
    change_removed: 'Removed',
    change_restored: 'Restored',
    current_step: 'Current text (since the last named version)',
    numbered: 'numbered {number}',
    note: 'Reason: {note}',
    amendment_step: 'Amendment {label} ({kind}), {status}.',
    vote_step: 'Vote: {yes} for, {no} against, {abstain} abstentions, {voted} of {eligible} voted — {result}.',
    no_vote: 'Accepted by the secretariat without a vote.',
    see_amendments: 'See the amendments',
    amendments_on_block: 'Amendments proposed on this paragraph',
    amendments_none: 'No amendment was proposed on this paragraph.',
    amendment_item: '{label} ({kind}): {status}',
    amendment_kind_replace: 'new wording',
    amendment_kind_delete: 'deletion',
    amendment_kind_insert_after: 'new paragraph after it',
    amendment_kind_insert_section: 'new section after it',
    amendment_kind_delete_section: 'deletion of the section',
    status_submitted: 'submitted',
    status_withdrawn: 'withdrawn',
    status_inadmissible: 'inadmissible',
    status_accepted: 'accepted',
    status_to_vote: 'to be voted on',
    status_adopted: 'adopted',
    status_rejected: 'rejected',
    status_fallen: 'fallen',
    status_void: 'void',
    result_adopted: 'adopted',
    result_rejected: 'rejected',
    result_void: 'void (quorum not reached)',
    new_version: 'New named version {number}: {name}.',
    choose_hint: 'Read a version, compare two, or follow one paragraph through the versions.',
  },
  fr: {
    title: 'Historique',
    versions_title: 'Versions nommées',
    versions_none: 'Aucune version nommée pour l’instant.',
    version_n: 'Version {number}',
    kind_created: 'création',
    kind_phase: 'changement de phase',
    kind_manual: 'version nommée',
    kind_correction: 'correction rédactionnelle',
    kind_amendment: 'amendement appliqué',
    name_created: 'Création du document',
    name_correction: 'Correction rédactionnelle',
    name_amendment_adopted: 'Amendement {label} adopté',
    name_amendment_accepted: 'Amendement {label} accepté',
    in_phase: 'phase « {phase} »',
    counts: '{sections} sections, {paragraphs} paragraphes',
    read: 'Lire',
    read_label: 'Lire la version {number}',
    compare_title: 'Comparer deux versions',
    from: 'Version la plus ancienne',
    to: 'Version la plus récente',
    current_text: 'Le texte actuel',
    compare: 'Comparer',
    same_version: 'Choisissez deux versions différentes.',
    block_title: 'Historique d’un paragraphe',
    block_pick: 'Paragraphe',
    block_choose: 'Choisissez un paragraphe…',
    block_show: 'Afficher son historique',
    block_required: 'Choisissez d’abord un paragraphe.',
    heading_option: 'Titre de la section {title}',
    preamble: 'Préambule',
    untitled: 'Section sans titre',
    not_in_text: '{id} (n’est plus dans le texte)',
    text_loading: 'Chargement du texte…',
    loading: 'Chargement…',
    version_title: 'Version {number} : {name}',
    version_meta: 'Enregistrée le {date}, en phase « {phase} ».',
    compare_title_versions: 'Modifications de la version {from} à la version {to}',
    compare_title_current: 'Modifications de la version {from} au texte actuel',
    summary: 'Paragraphes : {added} ajoutés, {removed} supprimés, {changed} modifiés, {moved} déplacés.',
    section_summary: 'Sections : {added} ajoutées, {removed} supprimées, {changed} modifiées, {moved} déplacées.',
    only_changes: 'N’afficher que les modifications',
    no_changes: 'Ces deux textes sont identiques.',
    flag_added: 'ajouté',
    flag_removed: 'supprimé',
    flag_changed: 'modifié',
    flag_moved: 'déplacé (était {number})',
    flag_moved_unnumbered: 'déplacé',
    flag_formatting: 'mise en forme modifiée',
    old_heading: 'Titre avant : {heading}',
    block_result_title: 'Historique du paragraphe {number}',
    block_result_title_id: 'Historique de {id}',
    change_added: 'Première apparition',
    change_changed: 'Modifié',
    change_removed: 'Supprimé',
    change_restored: 'Rétabli',
    current_step: 'Texte actuel (depuis la dernière version nommée)',
    numbered: 'numéroté {number}',
    note: 'Motif : {note}',
    amendment_step: 'Amendement {label} ({kind}), {status}.',
    vote_step: 'Vote : {yes} pour, {no} contre, {abstain} abstentions, {voted} votant·es sur {eligible} — {result}.',
    no_vote: 'Accepté par le secrétariat sans vote.',
    see_amendments: 'Voir les amendements',
    amendments_on_block: 'Amendements proposés sur ce paragraphe',
    amendments_none: 'Aucun amendement n’a été proposé sur ce paragraphe.',
    amendment_item: '{label} ({kind}) : {status}',
    amendment_kind_replace: 'nouvelle rédaction',
    amendment_kind_delete: 'suppression',
    amendment_kind_insert_after: 'nouveau paragraphe après celui-ci',
    amendment_kind_insert_section: 'nouvelle section après celle-ci',
    amendment_kind_delete_section: 'suppression de la section',
    status_submitted: 'déposé',
    status_withdrawn: 'retiré',
    status_inadmissible: 'irrecevable',
    status_accepted: 'accepté',
    status_to_vote: 'soumis au vote',
    status_adopted: 'adopté',
    status_rejected: 'rejeté',
    status_fallen: 'tombé',
    status_void: 'nul',
    result_adopted: 'adopté',
    result_rejected: 'rejeté',
    result_void: 'nul (quorum non atteint)',
    new_version: 'Nouvelle version nommée {number} : {name}.',
    choose_hint: 'Lisez une version, comparez-en deux, ou suivez un paragraphe au fil des versions.',
  },
})

type Shown =
  | { kind: 'version'; number: number }
  | { kind: 'compare'; from: number; to: number | null }
  | { kind: 'block'; block: string }

/** What the address asks to show. */
function fromAddress(search: string): Shown | null {
  const params = new URLSearchParams(search)
  const number = (name: string) => {
    const value = Number(params.get(name))
    return Number.isInteger(value) && value > 0 ? value : null
  }
  const block = params.get('block')
  if (block) return { kind: 'block', block }
  const from = number('from')
  if (from !== null) return { kind: 'compare', from, to: number('to') }
  const version = number('version')
  if (version !== null) return { kind: 'version', number: version }
  return null
}

function toAddress(shown: Shown | null): string {
  if (!shown) return ''
  if (shown.kind === 'block') return query({ block: shown.block })
  if (shown.kind === 'compare') return query({ from: shown.from, to: shown.to })
  return query({ version: shown.number })
}

/** A version's name in the reader's language when it is one the server made. */
function versionName(
  version: { number?: number | null; name: string; kind?: VersionSummary['kind'] | null },
  record: DocumentView | null,
): string {
  switch (version.kind) {
    case 'created':
      return t('name_created')
    case 'correction':
      return t('name_correction')
    case 'phase': {
      const transition = record?.transitions.find((tr) => tr.version === version.number)
      return transition ? `${phaseName(transition.from)} → ${phaseName(transition.to)}` : version.name
    }
    case 'amendment': {
      const match = /^Amendment (A\d+) (adopted|accepted)$/.exec(version.name)
      if (match) return t(match[2] === 'adopted' ? 'name_amendment_adopted' : 'name_amendment_accepted', { label: match[1] })
      return version.name
    }
    default:
      return version.name
  }
}

export function HistoryView({ session }: { session: DocumentSession }) {
  const id = session.id
  const record = session.record.value
  const [versions, setVersions] = useState<VersionSummary[] | null>(null)
  const [listError, setListError] = useState('')
  const [shown, setShownState] = useState<Shown | null>(() => fromAddress(location.search))
  /** Bumped by live changes: what shows the current text reloads. */
  const [generation, setGeneration] = useState(0)
  /** Whether the person asked for what is shown (then focus moves to it). */
  const chosen = useRef(false)

  function show(next: Shown) {
    chosen.current = true
    setShownState(next)
    history.replaceState(history.state, '', location.pathname + toAddress(next))
  }

  async function loadVersions() {
    try {
      setVersions(await api<VersionSummary[]>('GET', `/api/documents/${encodeURIComponent(id)}/versions`))
      setListError('')
    } catch (failure) {
      setListError(errorText(failure))
    }
  }

  useEffect(() => {
    void loadVersions()
    const off = session.feed.on(['version.created', 'phase.changed', 'text.corrected'], (event) => {
      if (event.kind === 'version.created' && event.data && typeof event.data.number === 'number') {
        announce(t('new_version', { number: event.data.number, name: versionName(event.data, session.record.value) }))
      }
      void loadVersions()
      setGeneration((g) => g + 1)
    })
    return off
  }, [id])

  // Nothing asked for: what changed since the last named version.
  const lastVersion = versions && versions.length > 0 ? versions[versions.length - 1].number : null
  const current: Shown | null = shown ?? (lastVersion !== null ? { kind: 'compare', from: lastVersion, to: null } : null)

  return (
    <section class="history-view" aria-labelledby="history-title">
      <h2 id="history-title" class="visually-hidden">
        {t('title')}
      </h2>
      <div class="history-controls">
        <VersionList versions={versions} error={listError} record={record} shown={shown} onRead={(number) => show({ kind: 'version', number })} />
        {versions && versions.length > 0 && <CompareForm versions={versions} record={record} shown={shown} onCompare={show} />}
        <BlockForm session={session} shown={shown} generation={generation} onPick={(block) => show({ kind: 'block', block })} />
      </div>
      <div class="history-result">
        {!shown && !versions && <p class="muted card">{t('choose_hint')}</p>}
        {current?.kind === 'version' && (
          <VersionText key={`v${current.number}`} id={id} number={current.number} versions={versions} record={record} focus={chosen.current} />
        )}
        {current?.kind === 'compare' && (
          <Comparison key={`c${current.from}-${current.to}`} id={id} from={current.from} to={current.to} generation={current.to === null ? generation : 0} focus={chosen.current} />
        )}
        {current?.kind === 'block' && (
          <BlockHistory key={`b${current.block}`} session={session} block={current.block} generation={generation} focus={chosen.current} />
        )}
      </div>
    </section>
  )
}

function VersionList({
  versions,
  error,
  record,
  shown,
  onRead,
}: {
  versions: VersionSummary[] | null
  error: string
  record: DocumentView | null
  shown: Shown | null
  onRead: (number: number) => void
}) {
  return (
    <section class="card" aria-labelledby="versions-title">
      <h3 id="versions-title">{t('versions_title')}</h3>
      <ErrorText error={error} />
      {!versions && !error && <p class="muted">{t('loading')}</p>}
      {versions && versions.length === 0 && <p class="muted">{t('versions_none')}</p>}
      {versions && versions.length > 0 && (
        <ol class="version-list" reversed>
          {[...versions].reverse().map((v) => {
            const current = shown?.kind === 'version' && shown.number === v.number
            return (
              <li key={v.number} class={current ? 'current' : undefined} data-version={v.number}>
                <div class="version-info">
                  <p class="version-head">
                    <span class="version-number">{v.number}.</span> <span class="version-name">{versionName(v, record)}</span>
                  </p>
                  <p class="muted small">
                    {t(`kind_${v.kind}`)} · {t('in_phase', { phase: phaseName(v.phase) })} · {dateTime(v.created_at)} ·{' '}
                    {t('counts', { sections: num(v.n_sections), paragraphs: num(v.n_paragraphs) })}
                  </p>
                  {/* An applied amendment's note is the ballot's outcome in the server's words: the
                      paragraph history says it in the reader's language instead. */}
                  {v.note && v.kind !== 'amendment' && <p class="small version-note">{t('note', { note: v.note })}</p>}
                </div>
                <button
                  type="button"
                  aria-label={t('read_label', { number: v.number })}
                  aria-pressed={current}
                  onClick={() => onRead(v.number)}
                >
                  {t('read')}
                </button>
              </li>
            )
          })}
        </ol>
      )}
    </section>
  )
}

const CURRENT = 'current'

function CompareForm({
  versions,
  record,
  shown,
  onCompare,
}: {
  versions: VersionSummary[]
  record: DocumentView | null
  shown: Shown | null
  onCompare: (shown: Shown) => void
}) {
  const last = versions[versions.length - 1].number
  const [from, setFrom] = useState(String(shown?.kind === 'compare' ? shown.from : last))
  const [to, setTo] = useState(shown?.kind === 'compare' && shown.to !== null ? String(shown.to) : CURRENT)
  const [error, setError] = useState('')
  const label = (v: VersionSummary) => `${v.number}. ${versionName(v, record)}`
  return (
    <form
      class="card"
      aria-labelledby="compare-title"
      onSubmit={(event) => {
        event.preventDefault()
        if (from === to) {
          setError(t('same_version'))
          return
        }
        setError('')
        onCompare({ kind: 'compare', from: Number(from), to: to === CURRENT ? null : Number(to) })
      }}
    >
      <h3 id="compare-title">{t('compare_title')}</h3>
      <label>
        {t('from')}
        <select value={from} onChange={(e) => setFrom(e.currentTarget.value)}>
          {versions.map((v) => (
            <option key={v.number} value={String(v.number)}>
              {label(v)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('to')}
        <select value={to} onChange={(e) => setTo(e.currentTarget.value)}>
          <option value={CURRENT}>{t('current_text')}</option>
          {versions.map((v) => (
            <option key={v.number} value={String(v.number)}>
              {label(v)}
            </option>
          ))}
        </select>
      </label>
      <ErrorText error={error} />
      <button type="submit">{t('compare')}</button>
    </form>
  )
}

function sectionLabel(section: { number: number | null; title: string; kind: string }): string {
  const title = section.title || (section.kind === 'preamble' ? t('preamble') : t('untitled'))
  return section.number !== null ? `${section.number}. ${title}` : title
}

function excerpt(text: string, max = 60): string {
  const clean = text.replace(/\s+/g, ' ').trim()
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean
}

interface PickSection {
  id: string
  kind: string
  number: number | null
  title: string
  paragraphs: { id: string; number: string | null; text: string }[]
}

/**
 * The paragraphs to pick from: the live structure the editor derives (`session.sections`),
 * or, when the editor has not been shown on this page yet, the server's current text.
 */
function usePickerSections(session: DocumentSession, generation: number): PickSection[] {
  const live = session.sections.value
  const [text] = useLoad(
    () => (live.length > 0 ? Promise.resolve(null) : api<TextView>('GET', `/api/documents/${encodeURIComponent(session.id)}/text`)),
    [live.length > 0, generation],
  )
  if (live.length > 0)
    return live.map((s) => ({
      id: s.id,
      kind: s.kind,
      number: s.number,
      title: s.title,
      paragraphs: s.paragraphs.filter((p) => p.id).map((p) => ({ id: p.id!, number: p.number, text: p.text })),
    }))
  return (text?.sections ?? []).map((s) => ({
    id: s.id,
    kind: s.kind,
    number: s.number ?? null,
    title: plain(s.heading),
    paragraphs: s.paragraphs.filter((p) => p.id).map((p) => ({ id: p.id, number: p.number ?? null, text: plain(p.text) })),
  }))
}

function BlockForm({
  session,
  shown,
  generation,
  onPick,
}: {
  session: DocumentSession
  shown: Shown | null
  generation: number
  onPick: (block: string) => void
}) {
  const sections = usePickerSections(session, generation)
  const [block, setBlock] = useState(shown?.kind === 'block' ? shown.block : '')
  const [error, setError] = useState('')
  useEffect(() => {
    if (shown?.kind === 'block') setBlock(shown.block)
  }, [shown])
  const known = sections.some((s) => s.id === block || s.paragraphs.some((p) => p.id === block))
  return (
    <form
      class="card"
      aria-labelledby="block-title"
      onSubmit={(event) => {
        event.preventDefault()
        if (!block) {
          setError(t('block_required'))
          return
        }
        setError('')
        onPick(block)
      }}
    >
      <h3 id="block-title">{t('block_title')}</h3>
      <label>
        {t('block_pick')}
        <select value={block} onChange={(e) => setBlock(e.currentTarget.value)}>
          <option value="">{sections.length ? t('block_choose') : t('text_loading')}</option>
          {block && !known && <option value={block}>{t('not_in_text', { id: block })}</option>}
          {sections.map((section) => (
            <optgroup key={section.id} label={sectionLabel(section)}>
              {section.id !== 's-preamble' && !section.id.startsWith('pending-') && (
                <option value={section.id}>{t('heading_option', { title: sectionLabel(section) })}</option>
              )}
              {section.paragraphs.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.number ? `${p.number} — ` : ''}
                  {excerpt(p.text)}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <ErrorText error={error} />
      <button type="submit">{t('block_show')}</button>
    </form>
  )
}

/** The result's frame: a heading that takes the focus when the person asked for it. */
function Result({ title, focus, children }: { title: string; focus: boolean; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    if (focus) heading.current?.focus()
  }, [])
  return (
    <section class="card history-panel" aria-labelledby="history-result-title">
      <h3 id="history-result-title" tabIndex={-1} ref={heading}>
        {title}
      </h3>
      {children}
    </section>
  )
}

/** Loads `load()` again whenever `deps` change; `[value, error]`. */
function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [T | null, string] {
  const [value, setValue] = useState<T | null>(null)
  const [error, setError] = useState('')
  useEffect(() => {
    let live = true
    load()
      .then((v) => {
        if (!live) return
        setValue(v)
        setError('')
      })
      .catch((failure) => live && setError(errorText(failure)))
    return () => {
      live = false
    }
  }, deps)
  return [value, error]
}

function Failure({ error }: { error: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null
}

function VersionText({
  id,
  number,
  versions,
  record,
  focus,
}: {
  id: string
  number: number
  versions: VersionSummary[] | null
  record: DocumentView | null
  focus: boolean
}) {
  const [text, error] = useLoad(() => api<TextView>('GET', `/api/documents/${encodeURIComponent(id)}/text${query({ version: number })}`), [id, number])
  const summary = versions?.find((v) => v.number === number)
  const title = summary ? t('version_title', { number, name: versionName(summary, record) }) : t('version_n', { number })
  return (
    <Result title={title} focus={focus}>
      {summary && <p class="muted small">{t('version_meta', { date: dateTime(summary.created_at), phase: phaseName(summary.phase) })}</p>}
      <Failure error={error} />
      {!text && !error && <p class="muted">{t('loading')}</p>}
      {text && (
        <div class="version-text">
          {text.sections.map((section) => (
            <section key={section.id} class="version-section" data-id={section.id}>
              {plain(section.heading) !== '' && (
                <h4>
                  {section.number != null && <span class="hv-num">{section.number}.</span>} <RichText spans={section.heading} />
                </h4>
              )}
              {section.paragraphs.map((p) => (
                <p key={p.id} data-id={p.id} data-number={p.number ?? ''}>
                  {p.number && <span class="hv-num">{p.number}</span>}
                  <span class="hv-body">
                    <RichText spans={p.text} />
                  </span>
                </p>
              ))}
            </section>
          ))}
        </div>
      )}
    </Result>
  )
}

function Comparison({ id, from, to, generation, focus }: { id: string; from: number; to: number | null; generation: number; focus: boolean }) {
  const base = `/api/documents/${encodeURIComponent(id)}`
  const [data, error] = useLoad(
    () =>
      Promise.all([
        api<ManuscriptDiff>('GET', `${base}/diff${query({ from, to })}`),
        api<TextView>('GET', `${base}/text${query({ version: from })}`),
        api<TextView>('GET', `${base}/text${query({ version: to })}`),
      ]),
    [id, from, to, generation],
  )
  const [changesOnly, setChangesOnly] = useState(true)
  const title = to === null ? t('compare_title_current', { from }) : t('compare_title_versions', { from, to })
  let body: ComponentChildren = null
  if (data) {
    const [diff, older, newer] = data
    const all = layOut(older.sections, newer.sections, diff)
    const sections = changesOnly ? onlyChanges(all) : all
    const s = diff.summary
    const ss = diff.section_summary
    const nothing = diff.paragraphs.length === 0 && diff.sections.length === 0
    body = (
      <>
        <p class="compare-summary">
          {t('summary', { added: num(s.added), removed: num(s.removed), changed: num(s.changed), moved: num(s.moved) })}
          {diff.sections.length > 0 && (
            <>
              <br />
              {t('section_summary', { added: num(ss.added), removed: num(ss.removed), changed: num(ss.changed), moved: num(ss.moved) })}
            </>
          )}
        </p>
        <label class="inline">
          <input type="checkbox" checked={changesOnly} onChange={(e) => setChangesOnly(e.currentTarget.checked)} />
          {t('only_changes')}
        </label>
        {nothing && <p>{t('no_changes')}</p>}
        <div class="version-text compare-text">
          {sections.map((section) => (
            <CompareSectionView key={section.id} section={section} />
          ))}
        </div>
      </>
    )
  }
  return (
    <Result title={title} focus={focus}>
      <Failure error={error} />
      {!data && !error && <p class="muted">{t('loading')}</p>}
      {body}
    </Result>
  )
}

function Flag({ kind, children }: { kind: string; children: ComponentChildren; key?: string }) {
  return <span class={`change-flag change-${kind}`}>{children}</span>
}

function flags(change: CompareItem['change'] | CompareSection['change'], oldNumber: string | null): ComponentChildren[] {
  if (!change) return []
  const out: ComponentChildren[] = []
  switch (change.change) {
    case 'added':
      out.push(<Flag key="added" kind="added">{t('flag_added')}</Flag>)
      break
    case 'removed':
      out.push(<Flag key="removed" kind="removed">{t('flag_removed')}</Flag>)
      break
    case 'changed':
      out.push(<Flag key="changed" kind="changed">{t('flag_changed')}</Flag>)
      break
    case 'moved':
    case 'moved_and_changed':
      out.push(<Flag key="moved" kind="moved">{oldNumber ? t('flag_moved', { number: oldNumber }) : t('flag_moved_unnumbered')}</Flag>)
      if (change.change === 'moved_and_changed') out.push(<Flag key="changed" kind="changed">{t('flag_changed')}</Flag>)
      break
  }
  if (change.formatting_only) out.push(<Flag key="formatting" kind="formatting">{t('flag_formatting')}</Flag>)
  return out
}

function CompareSectionView({ section }: { section: CompareSection }) {
  const change = section.change
  const oldNumber = change?.old_number != null ? String(change.old_number) : null
  const heading = plain(section.heading)
  const showHeading = heading !== '' || (change !== null && change.change !== 'moved')
  return (
    <section class={`version-section${change ? ` section-${change.change}` : ''}`} data-id={section.id}>
      {showHeading && (
        <h4>
          {section.number != null && <span class="hv-num">{section.number}.</span>}{' '}
          {change && change.diff.length > 0 ? <WordDiff ops={change.diff} /> : change?.change === 'removed' ? <del><RichText spans={section.heading} /></del> : change?.change === 'added' ? <ins><RichText spans={section.heading} /></ins> : <RichText spans={section.heading} />}{' '}
          {flags(change, oldNumber)}
        </h4>
      )}
      {section.items.map((item) => (
        <CompareParagraph key={item.id} item={item} />
      ))}
    </section>
  )
}

function CompareParagraph({ item }: { item: CompareItem }) {
  const change = item.change
  let body: ComponentChildren
  if (!change) body = <RichText spans={item.text} />
  else if (change.diff.length > 0) body = <WordDiff ops={change.diff} />
  else if (change.change === 'removed')
    body = (
      <del>
        <RichText spans={change.old_text ?? item.text} />
      </del>
    )
  else if (change.change === 'added')
    body = (
      <ins>
        <RichText spans={change.new_text ?? item.text} />
      </ins>
    )
  else body = <RichText spans={change.new_text ?? item.text} />
  const kind = change ? change.change : 'same'
  return (
    <div class={`compare-paragraph para-${kind}`} data-id={item.id} data-change={kind}>
      <span class="hv-num">{item.number ?? ''}</span>
      <div class="hv-body">
        {change && <div class="change-flags">{flags(change, change.old_number ?? null)}</div>}
        <p>{body}</p>
      </div>
    </div>
  )
}

function BlockHistory({ session, block, generation, focus }: { session: DocumentSession; block: string; generation: number; focus: boolean }) {
  const base = `/api/documents/${encodeURIComponent(session.id)}`
  const [entries, error] = useLoad(() => api<HistoryEntry[]>('GET', `${base}/blocks/${encodeURIComponent(block)}/history`), [block, generation])
  const [context] = useLoad(
    () =>
      Promise.all([
        api<AmendmentView[]>('GET', `${base}/amendments`).catch(() => [] as AmendmentView[]),
        api<BallotsView>('GET', `${base}/ballots`)
          .then((b) => b.ballots)
          .catch(() => [] as BallotView[]),
      ]),
    [block, generation],
  )
  const record = session.record.value
  const [amendments, ballots] = context ?? [[], []]
  const paragraph = session.sections.value.flatMap((s) => s.paragraphs).find((p) => p.id === block)
  const section = session.sections.value.find((s) => s.id === block)
  const lastNumber = [...(entries ?? [])].reverse().find((e) => e.number)?.number
  const number = paragraph?.number ?? (section?.number != null ? String(section.number) : lastNumber)
  const title = number ? t('block_result_title', { number }) : t('block_result_title_id', { id: block })
  const onBlock = amendments.filter((a) => a.target === block)
  return (
    <Result title={title} focus={focus}>
      <Failure error={error} />
      {!entries && !error && <p class="muted">{t('loading')}</p>}
      {entries && (
        <ol class="block-history">
          {entries.map((entry, i) => {
            const amendment = entry.kind === 'amendment' && entry.version != null ? amendments.find((a) => a.applied_version === entry.version) : undefined
            const ballot = amendment?.ballot != null ? ballots.find((b) => b.id === amendment.ballot) : undefined
            const name = entry.version == null ? t('current_step') : `${t('version_n', { number: entry.version })} — ${versionName({ number: entry.version, name: entry.name, kind: entry.kind }, record)}`
            return (
              <li key={`${entry.version ?? 'current'}-${i}`} class={`history-step step-${entry.change}`} data-version={entry.version ?? 'current'}>
                <p class="step-head">
                  <Flag kind={entry.change}>{t(`change_${entry.change}`)}</Flag> <strong>{name}</strong>
                </p>
                <p class="muted small">
                  {dateTime(entry.at)}
                  {entry.number && ` · ${t('numbered', { number: entry.number })}`}
                </p>
                {entry.diff.length > 0 ? (
                  <p class="step-text">
                    <WordDiff ops={entry.diff} />
                  </p>
                ) : (
                  entry.text && (
                    <p class="step-text">
                      <RichText spans={entry.text} />
                    </p>
                  )
                )}
                {amendment && (
                  <p class="small">
                    {t('amendment_step', {
                      label: amendment.label,
                      kind: t(`amendment_kind_${amendment.kind}`),
                      status: t(`status_${amendment.status}`),
                    })}{' '}
                    {ballot?.outcome
                      ? t('vote_step', {
                          yes: num(ballot.outcome.yes),
                          no: num(ballot.outcome.no),
                          abstain: num(ballot.outcome.abstain),
                          voted: num(ballot.outcome.n_voted),
                          eligible: num(ballot.outcome.n_eligible),
                          result: t(`result_${ballot.outcome.result}`),
                        })
                      : amendment.status === 'accepted'
                        ? t('no_vote')
                        : null}
                  </p>
                )}
                {entry.note && !(amendment && ballot?.outcome) && <p class="small">{t('note', { note: entry.note })}</p>}
              </li>
            )
          })}
        </ol>
      )}
      {context && (
        <section aria-labelledby="block-amendments-title">
          <h4 id="block-amendments-title">{t('amendments_on_block')}</h4>
          {onBlock.length === 0 ? (
            <p class="muted">{t('amendments_none')}</p>
          ) : (
            <ul>
              {onBlock.map((a) => (
                <li key={a.id}>
                  {t('amendment_item', { label: a.label, kind: t(`amendment_kind_${a.kind}`), status: t(`status_${a.status}`) })}
                </li>
              ))}
            </ul>
          )}
          <Link href={documentPath(session.id, 'amendments')}>{t('see_amendments')}</Link>
        </section>
      )}
    </Result>
  )
}
