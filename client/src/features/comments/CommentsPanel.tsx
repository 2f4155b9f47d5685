// The comments beside the text (the right column of the Text tab): comment on the selected
// words or on a section, threads grouped by section in the order of the text with their quote
// (and whether the words changed or are gone), replies, resolve and reopen, edit and delete
// one's own, hide with a reason (secretariat). The list reloads on every comment event, the
// marks in the text follow everyone's edits live, and the outline's counts come from here.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { ComponentChildren } from 'preact'
import { api, ApiFailure } from '../../api/client'
import type { CommentsView, CommentView, NewComment } from '../../api/types'
import type { DocumentSession, TextSelection } from '../../document/session'
import { focusBlock } from '../../editor/Editor'
import type { SectionInfo } from '../../editor/structure'
import { dateTime, messages, num } from '../../i18n'
import { useAction } from '../../ui/action'
import { announce } from '../../ui/announce'
import { errorText, phaseName } from '../../ui/common'
import {
  MAX_BODY_CHARS,
  MAX_QUOTE_UNITS,
  MAX_REASON_CHARS,
  applyEvent,
  bodyLength,
  canDelete,
  canEdit,
  canHide,
  canSetStatus,
  canWrite,
  groupThreads,
  highlightsFor,
  isShown,
  mergeHighlights,
  openCount,
  placeThreads,
  rangeAnchor,
  resolveAll,
  sameHighlights,
  sameLive,
  textProblem,
  type LiveAnchor,
  type PlacedThread,
  type ThreadGroup,
  type Viewer,
} from './threads'

const t = messages({
  en: {
    title: 'Comments',
    open_count: '{count} open threads',
    loading: 'Loading the comments…',
    retry: 'Try again',
    closed_phase: 'Comments are closed in the {phase} phase.',
    closed_deadline: 'The deadline for comments passed on {date}.',
    closed_read: 'You can still read them.',
    observer: 'As an observer, you read the comments but do not write any.',
    selected: 'Selected in ¶ {number}: “{quote}”',
    selected_unnumbered: 'Selected: “{quote}”',
    selection_too_long: 'The selection is too long to comment on: choose fewer words.',
    select_hint: 'Select words in a paragraph to comment on them.',
    comment_selection: 'Comment on the selection',
    comment_section: 'Comment on this section',
    comment_a_section: 'Comment on a section',
    comment_short: 'Comment',
    comment_short_label: 'Comment on the selected words (the form is below the text)',
    new_title: 'New comment',
    on_quote: 'On ¶ {number}: “{quote}”',
    on_quote_unnumbered: 'On “{quote}”',
    section_choice: 'Section',
    your_comment: 'Your comment',
    post: 'Post the comment',
    posted: 'Your comment is posted.',
    count: '{count} / {max} characters',
    empty: 'Write something first.',
    too_long: 'At most {max} characters.',
    cancel: 'Cancel',
    show: 'Show',
    only_section: 'Only the section where the caret is ({name})',
    only_section_none: 'Only the section where the caret is',
    show_resolved: 'Resolved threads too ({count})',
    none: 'No comments yet.',
    none_shown: 'No comments to show here.',
    elsewhere: '{count} open threads in other sections.',
    show_all: 'Show every section',
    preamble: 'Preamble',
    untitled: 'Untitled section',
    orphaned_group: 'No longer in the text',
    here: 'caret here',
    go_paragraph: '¶ {number}',
    go_hint: ': show it in the text',
    go_unnumbered: 'Paragraph',
    go_section: 'Whole section',
    quote_label: 'Commented words',
    changed: 'The words changed since: now “{text}”.',
    orphaned: 'The commented words are no longer in the text.',
    orphaned_section: 'This section is no longer in the text.',
    resolved: 'Resolved',
    replies: 'Replies',
    reply: 'Reply',
    your_reply: 'Your reply',
    post_reply: 'Post the reply',
    reply_posted: 'Your reply is posted.',
    resolve: 'Resolve',
    reopen: 'Reopen',
    resolved_done: 'Thread resolved.',
    reopened_done: 'Thread reopened.',
    edit: 'Edit',
    edit_label: 'Your comment, edited',
    save: 'Save',
    saved: 'Your comment is updated.',
    delete: 'Delete',
    delete_confirm: 'Delete this comment? Its replies stay.',
    delete_yes: 'Delete it',
    deleted_done: 'Your comment is deleted.',
    deleted: 'This comment was deleted.',
    hide: 'Hide',
    hide_again: 'Change the reason',
    hide_reason: 'Reason, shown to every member',
    hide_submit: 'Hide the comment',
    hidden_done: 'The comment is hidden.',
    hidden: 'Hidden by the secretariat: {reason}',
    hidden_private: 'Only its author and the secretariat see this text.',
    edited: 'edited',
    edited_title: 'Edited on {date}',
    earlier: 'Earlier versions',
    version_of: 'Written on {date}',
    you: '(you)',
    by: 'Comment by {name}',
    new_comment_by: 'New comment by {name}.',
    new_reply_by: 'New reply by {name}.',
    error_closed: 'Comments are closed now.',
    error_deleted: 'This comment was deleted in the meantime.',
    error_hidden: 'The secretariat hid this comment: it can no longer be edited.',
    error_block: 'This passage is no longer in the text: select it again.',
    error_anchor: 'The selection no longer matches the text: select it again.',
  },
  fr: {
    title: 'Commentaires',
    open_count: '{count} fils ouverts',
    loading: 'Chargement des commentaires…',
    retry: 'Réessayer',
    closed_phase: 'Les commentaires sont fermés pendant la phase « {phase} ».',
    closed_deadline: 'L’échéance des commentaires est passée le {date}.',
    closed_read: 'Vous pouvez toujours les lire.',
    observer: 'En tant qu’observateur·rice, vous lisez les commentaires sans en écrire.',
    selected: 'Sélection dans le ¶ {number} : « {quote} »',
    selected_unnumbered: 'Sélection : « {quote} »',
    selection_too_long: 'La sélection est trop longue pour être commentée : choisissez moins de mots.',
    select_hint: 'Sélectionnez des mots d’un paragraphe pour les commenter.',
    comment_selection: 'Commenter la sélection',
    comment_section: 'Commenter cette section',
    comment_a_section: 'Commenter une section',
    comment_short: 'Commenter',
    comment_short_label: 'Commenter les mots sélectionnés (le formulaire est sous le texte)',
    new_title: 'Nouveau commentaire',
    on_quote: 'Sur le ¶ {number} : « {quote} »',
    on_quote_unnumbered: 'Sur « {quote} »',
    section_choice: 'Section',
    your_comment: 'Votre commentaire',
    post: 'Publier le commentaire',
    posted: 'Votre commentaire est publié.',
    count: '{count} / {max} caractères',
    empty: 'Écrivez d’abord quelque chose.',
    too_long: '{max} caractères au plus.',
    cancel: 'Annuler',
    show: 'Afficher',
    only_section: 'Seulement la section du curseur ({name})',
    only_section_none: 'Seulement la section du curseur',
    show_resolved: 'Les fils résolus aussi ({count})',
    none: 'Aucun commentaire pour l’instant.',
    none_shown: 'Aucun commentaire à afficher ici.',
    elsewhere: '{count} fils ouverts dans d’autres sections.',
    show_all: 'Afficher toutes les sections',
    preamble: 'Préambule',
    untitled: 'Section sans titre',
    orphaned_group: 'Plus dans le texte',
    here: 'curseur ici',
    go_paragraph: '¶ {number}',
    go_hint: ' : l’afficher dans le texte',
    go_unnumbered: 'Paragraphe',
    go_section: 'Section entière',
    quote_label: 'Mots commentés',
    changed: 'Les mots ont changé depuis : désormais « {text} ».',
    orphaned: 'Les mots commentés ne sont plus dans le texte.',
    orphaned_section: 'Cette section n’est plus dans le texte.',
    resolved: 'Résolu',
    replies: 'Réponses',
    reply: 'Répondre',
    your_reply: 'Votre réponse',
    post_reply: 'Publier la réponse',
    reply_posted: 'Votre réponse est publiée.',
    resolve: 'Résoudre',
    reopen: 'Rouvrir',
    resolved_done: 'Fil résolu.',
    reopened_done: 'Fil rouvert.',
    edit: 'Modifier',
    edit_label: 'Votre commentaire, modifié',
    save: 'Enregistrer',
    saved: 'Votre commentaire est modifié.',
    delete: 'Supprimer',
    delete_confirm: 'Supprimer ce commentaire ? Ses réponses restent.',
    delete_yes: 'Le supprimer',
    deleted_done: 'Votre commentaire est supprimé.',
    deleted: 'Ce commentaire a été supprimé.',
    hide: 'Masquer',
    hide_again: 'Changer le motif',
    hide_reason: 'Motif, visible par tous les membres',
    hide_submit: 'Masquer le commentaire',
    hidden_done: 'Le commentaire est masqué.',
    hidden: 'Masqué par le secrétariat : {reason}',
    hidden_private: 'Seuls son auteur·rice et le secrétariat voient ce texte.',
    edited: 'modifié',
    edited_title: 'Modifié le {date}',
    earlier: 'Versions précédentes',
    version_of: 'Écrite le {date}',
    you: '(vous)',
    by: 'Commentaire de {name}',
    new_comment_by: 'Nouveau commentaire de {name}.',
    new_reply_by: 'Nouvelle réponse de {name}.',
    error_closed: 'Les commentaires sont fermés à présent.',
    error_deleted: 'Ce commentaire a été supprimé entre-temps.',
    error_hidden: 'Le secrétariat a masqué ce commentaire : il ne peut plus être modifié.',
    error_block: 'Ce passage n’est plus dans le texte : sélectionnez-le à nouveau.',
    error_anchor: 'La sélection ne correspond plus au texte : sélectionnez-la à nouveau.',
  },
})

/** Reloads after an event start within this many milliseconds (at random). */
const RELOAD_SPREAD_MS = 300

/** A failure, in words about comments when the server's code says more than the status. */
function commentError(error: unknown): string {
  if (error instanceof ApiFailure) {
    switch (error.code) {
      case 'comments_closed':
        return t('error_closed')
      case 'comment_deleted':
        return t('error_deleted')
      case 'comment_hidden':
        return t('error_hidden')
      case 'block_not_found':
        return t('error_block')
      case 'invalid_anchor':
        return t('error_anchor')
    }
  }
  return errorText(error)
}

/** At most `max` characters of a quote, on one line. */
function shorten(text: string, max = 90): string {
  const line = text.replace(/\s+/g, ' ').trim()
  const chars = [...line]
  return chars.length <= max ? line : `${chars.slice(0, max - 1).join('')}…`
}

function sectionName(section: SectionInfo | null): string {
  if (!section) return t('untitled')
  const title = section.title || (section.kind === 'preamble' ? t('preamble') : t('untitled'))
  return section.number !== null ? `${section.number}. ${title}` : title
}

function commentsPath(session: DocumentSession, rest = ''): string {
  return `/api/documents/${encodeURIComponent(session.id)}/comments${rest}`
}

/** Moves the caret to where a thread is anchored. */
function goToThread(item: PlacedThread, sections: SectionInfo[]) {
  if (item.block) {
    focusBlock(item.block)
    return
  }
  const section = sections.find((s) => s.id === item.section)
  const first = section?.paragraphs.find((p) => p.id)?.id
  if (first) focusBlock(first)
}

/**
 * When the control that had the focus left with a change (a thread resolved, a comment
 * deleted), the focus goes to its thread, or to the panel's title if the thread left too.
 */
function keepFocusInPanel(thread: number) {
  requestAnimationFrame(() => {
    const focused = document.activeElement
    if (focused && focused !== document.body && focused.isConnected) return
    const element = document.getElementById(`thread-${thread}`) ?? document.getElementById('comments-title')
    element?.focus()
  })
}

/** Focuses `ref`'s element on the next frame (after the render that shows it). */
function focusSoon(ref: { current: HTMLElement | null }) {
  requestAnimationFrame(() => ref.current?.focus())
}

export function CommentsPanel({ session }: { session: DocumentSession }) {
  const [view, setView] = useState<CommentsView | null>(null)
  const [loadError, setLoadError] = useState<unknown>(null)
  const [live, setLive] = useState<Map<number, LiveAnchor>>(() => new Map())
  const [onlySection, setOnlySection] = useState(false)
  const [showResolved, setShowResolved] = useState(false)
  const [active, setActive] = useState<number | null>(null)
  const [focusThread, setFocusThread] = useState<number | null>(null)
  const panel = useRef<HTMLElement>(null)
  const reloadRef = useRef<() => Promise<void>>(async () => {})

  // Loading: one request at a time; events arriving meanwhile ask for one more.
  useEffect(() => {
    let alive = true
    let running: Promise<void> | null = null
    let again = false
    const load = (): Promise<void> => {
      if (running) {
        again = true
        return running
      }
      running = (async () => {
        try {
          do {
            again = false
            const next = await api<CommentsView>('GET', commentsPath(session))
            if (!alive) return
            setView(next)
            setLoadError(null)
            session.commentCounts.value = next.open_threads_by_section
          } while (again && alive)
        } catch (error) {
          if (alive) setLoadError(error)
        } finally {
          running = null
        }
      })()
      return running
    }
    reloadRef.current = load
    void load()
    // Every member reloads on every comment event: spread those requests over a moment.
    let pending: ReturnType<typeof setTimeout> | undefined
    const loadSoon = () => {
      if (pending === undefined) {
        pending = setTimeout(() => {
          pending = undefined
          void load()
        }, Math.random() * RELOAD_SPREAD_MS)
      }
    }
    const viewer: Viewer = { id: session.user.id, role: session.user.role }
    const off = session.feed.on(['comment.'], (event) => {
      if (event.kind === 'resync') {
        void load()
        return
      }
      const comment = event.data as CommentView | undefined
      if (comment && typeof comment.id === 'number') {
        // Shown at once from the event; the reload brings anchors, counts and the rest.
        setView((current) => (current ? applyEvent(current, event.kind, comment, viewer) : current))
        if (event.kind === 'comment.created' && comment.author.id !== session.user.id) {
          announce(t(comment.parent ? 'new_reply_by' : 'new_comment_by', { name: comment.author.name }))
        }
      }
      loadSoon()
    })
    return () => {
      alive = false
      clearTimeout(pending)
      off()
      session.highlights.value = mergeHighlights(session.highlights.peek(), [])
    }
  }, [session])

  // The anchors followed live in the shared text, between two loads.
  useEffect(() => {
    if (!view) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const compute = () => {
      timer = undefined
      const next = resolveAll(session.ydoc, view.threads)
      setLive((previous) => (sameLive(previous, next) ? previous : next))
    }
    compute()
    // Recomputed once per frame at most, so that the marks follow typing without lagging.
    const onUpdate = () => {
      if (timer === undefined) timer = setTimeout(compute, 16)
    }
    session.ydoc.on('update', onUpdate)
    return () => {
      session.ydoc.off('update', onUpdate)
      clearTimeout(timer)
    }
  }, [session, view])

  const record = session.record.value
  const sections = session.sections.value
  const selection = session.selection.value
  const viewer: Viewer = { id: session.user.id, role: session.user.role }
  const open = record ? record.comments_open : (view?.comments_open ?? false)
  const placed = useMemo(() => (view ? placeThreads(view.threads, sections, live) : []), [view, sections, live])
  const highlights = useMemo(() => highlightsFor(placed, active), [placed, active])

  useEffect(() => {
    const current = session.highlights.peek()
    const next = mergeHighlights(current, highlights)
    if (!sameHighlights(current, next)) session.highlights.value = next
  }, [session, highlights])

  const caretSection = selection && selection.section && !selection.section.startsWith('pending-') ? selection.section : null
  const caretInfo = sections.find((s) => s.id === caretSection) ?? null
  const filterSection = onlySection && caretSection ? caretSection : null
  const shown = placed.filter((p) => isShown(p, { resolved: showResolved, section: filterSection }))
  const groups = groupThreads(shown, sections)
  const totalOpen = openCount(placed)
  const resolvedCount = placed.filter((p) => p.resolved && isShown(p, { resolved: true, section: null })).length
  const elsewhere = filterSection ? totalOpen - openCount(placed, filterSection) : 0

  // Keep the caret's section in view in the panel while the person moves in the text.
  useEffect(() => {
    const root = panel.current
    if (!root || !caretSection || !document.activeElement?.closest('.manuscript')) return
    if (root.scrollHeight <= root.clientHeight) return
    const group = root.querySelector<HTMLElement>(`[data-section="${CSS.escape(caretSection)}"]`)
    if (!group) return
    root.scrollTop += group.getBoundingClientRect().top - root.getBoundingClientRect().top - 8
  }, [caretSection])

  // A thread just made: focus it once it shows.
  useEffect(() => {
    if (focusThread === null) return
    const element = panel.current?.querySelector<HTMLElement>(`#thread-${focusThread}`)
    if (element) {
      element.focus()
      setFocusThread(null)
    }
  })

  const reload = () => reloadRef.current()

  return (
    <aside class="side-panel comments-panel" aria-labelledby="comments-title" ref={panel}>
      <h2 id="comments-title" tabIndex={-1}>
        {t('title')}{' '}
        {totalOpen > 0 && (
          <span class="badge" title={t('open_count', { count: totalOpen })} aria-label={t('open_count', { count: totalOpen })}>
            {num(totalOpen)}
          </span>
        )}
      </h2>
      <WriteArea
        session={session}
        open={open}
        selection={selection}
        sections={sections}
        caretSection={caretSection}
        onPosted={async (comment) => {
          await reload()
          setFocusThread(comment.id)
        }}
      />
      {view && placed.length > 0 && (
        <fieldset class="comments-filters">
          <legend>{t('show')}</legend>
          <label class="inline">
            <input
              type="checkbox"
              checked={onlySection}
              disabled={!caretSection}
              onChange={(event) => setOnlySection(event.currentTarget.checked)}
            />
            {caretInfo ? t('only_section', { name: shorten(sectionName(caretInfo), 40) }) : t('only_section_none')}
          </label>
          <label class="inline">
            <input type="checkbox" checked={showResolved} onChange={(event) => setShowResolved(event.currentTarget.checked)} />
            {t('show_resolved', { count: num(resolvedCount) })}
          </label>
        </fieldset>
      )}
      {!view && !loadError && <p class="muted">{t('loading')}</p>}
      {loadError !== null && (
        <div role="alert">
          <p class="error">{errorText(loadError)}</p>
          <button type="button" onClick={() => void reload()}>
            {t('retry')}
          </button>
        </div>
      )}
      {view && groups.length === 0 && <p class="muted">{placed.length === 0 ? t('none') : t('none_shown')}</p>}
      {groups.map((group) => (
        <Group key={group.key} group={group} current={group.key === caretSection}>
          {group.threads.map((item) => (
            <Thread
              key={item.id}
              item={item}
              session={session}
              sections={sections}
              viewer={viewer}
              open={open}
              active={active === item.id}
              onActivate={() => setActive(item.id)}
              reload={reload}
            />
          ))}
        </Group>
      ))}
      {elsewhere > 0 && (
        <p class="small">
          {t('elsewhere', { count: num(elsewhere) })}{' '}
          <button type="button" class="link-like" onClick={() => setOnlySection(false)}>
            {t('show_all')}
          </button>
        </p>
      )}
    </aside>
  )
}

function Group({ group, current, children }: { group: ThreadGroup; current: boolean; children: ComponentChildren }) {
  const id = `comments-group-${group.key}`
  return (
    <section class={current ? 'comments-group current' : 'comments-group'} aria-labelledby={id} data-section={group.key}>
      <h3 id={id}>
        {group.orphaned ? t('orphaned_group') : sectionName(group.section)}
        {current && <span class="here-tag">{t('here')}</span>}
      </h3>
      <ol class="threads">{children}</ol>
    </section>
  )
}

type Draft =
  | { kind: 'range'; paragraph: string; start: number; end: number; quote: string; number: string | null }
  | { kind: 'section'; section: string }

/** Where a new thread goes and its first comment, or why nobody can write here. */
function WriteArea({
  session,
  open,
  selection,
  sections,
  caretSection,
  onPosted,
}: {
  session: DocumentSession
  open: boolean
  selection: TextSelection | null
  sections: SectionInfo[]
  caretSection: string | null
  onPosted: (comment: CommentView) => Promise<void>
}) {
  const [draft, setDraft] = useState<Draft | null>(null)
  const [section, setSection] = useState('')
  const opener = useRef<HTMLButtonElement>(null)
  const record = session.record.value
  const viewer: Viewer = { id: session.user.id, role: session.user.role }

  if (viewer.role === 'observer') return <p class="comments-note muted">{t('observer')}</p>
  if (!canWrite(viewer, open)) {
    const deadlinePassed = !!record && record.comment_phases.includes(record.phase) && record.deadline_passed
    return (
      <p class="comments-note" data-testid="comments-closed">
        <span aria-hidden="true">🔒 </span>
        {deadlinePassed && record?.deadline
          ? t('closed_deadline', { date: dateTime(record.deadline) })
          : t('closed_phase', { phase: record ? phaseName(record.phase) : '' })}{' '}
        {t('closed_read')}
      </p>
    )
  }

  const range =
    selection && selection.blockType === 'paragraph' && selection.block && selection.end > selection.start ? selection : null
  const rangeNumber = range ? (sections.flatMap((s) => s.paragraphs).find((p) => p.id === range.block)?.number ?? null) : null
  const tooLong = !!range && range.end - range.start > MAX_QUOTE_UNITS
  const named = sections.filter((s) => !s.id.startsWith('pending-'))

  const close = () => {
    setDraft(null)
    focusSoon(opener)
  }

  if (draft) {
    const anchorText =
      draft.kind === 'range'
        ? draft.number
          ? t('on_quote', { number: draft.number, quote: shorten(draft.quote) })
          : t('on_quote_unnumbered', { quote: shorten(draft.quote) })
        : null
    return (
      <div class="comment-new card">
        <h3>{t('new_title')}</h3>
        {anchorText && <p class="small comment-new-anchor">{anchorText}</p>}
        {draft.kind === 'section' && (
          <label>
            {t('section_choice')}
            <select value={section} onChange={(event) => setSection(event.currentTarget.value)}>
              {named.map((s) => (
                <option key={s.id} value={s.id}>
                  {sectionName(s)}
                </option>
              ))}
            </select>
          </label>
        )}
        <BodyForm
          label={t('your_comment')}
          submit={t('post')}
          max={MAX_BODY_CHARS}
          onCancel={close}
          onSubmit={async (body) => {
            const anchor =
              draft.kind === 'range'
                ? rangeAnchor(session.fragment, draft.paragraph, draft.start, draft.end)
                : { section: section || draft.section }
            const request: NewComment = { body, anchor }
            const comment = await api<CommentView>('POST', commentsPath(session), request)
            setDraft(null)
            announce(t('posted'))
            await onPosted(comment)
          }}
        />
      </div>
    )
  }

  return (
    <div class="comment-start">
      {range && (
        <p class="small comment-selected">
          {rangeNumber
            ? t('selected', { number: rangeNumber, quote: shorten(range.quote) })
            : t('selected_unnumbered', { quote: shorten(range.quote) })}
        </p>
      )}
      {tooLong && <p class="small error">{t('selection_too_long')}</p>}
      {!range && <p class="small muted">{t('select_hint')}</p>}
      <div class="actions">
        {range && (
          <button
            type="button"
            class="primary"
            ref={opener}
            disabled={tooLong}
            onClick={() => {
              setDraft({ kind: 'range', paragraph: range.block!, start: range.start, end: range.end, quote: range.quote, number: rangeNumber })
            }}
          >
            {t('comment_selection')}
          </button>
        )}
        {named.length > 0 && (
          <button
            type="button"
            ref={range ? undefined : opener}
            onClick={() => {
              const chosen = caretSection && named.some((s) => s.id === caretSection) ? caretSection : named[0].id
              setSection(chosen)
              setDraft({ kind: 'section', section: chosen })
            }}
          >
            {caretSection ? t('comment_section') : t('comment_a_section')}
          </button>
        )}
      </div>
      {range && !tooLong && (
        // On a phone the panel is below the text: a button at hand while words are selected.
        <button
          type="button"
          class="primary comment-fab"
          aria-label={t('comment_short_label')}
          onClick={() => {
            setDraft({ kind: 'range', paragraph: range.block!, start: range.start, end: range.end, quote: range.quote, number: rangeNumber })
          }}
        >
          {t('comment_short')}
        </button>
      )}
    </div>
  )
}

/** A textarea with its counter and checks, one request at a time, Escape to cancel. */
function BodyForm({
  label,
  submit,
  max,
  initial = '',
  onSubmit,
  onCancel,
  multiline = true,
}: {
  label: string
  submit: string
  max: number
  initial?: string
  onSubmit: (body: string) => Promise<void>
  onCancel: () => void
  multiline?: boolean
}) {
  const [text, setText] = useState(initial)
  const { busy, error, setError, run } = useAction(commentError)
  const field = useRef<HTMLTextAreaElement & HTMLInputElement>(null)
  const id = useMemo(() => `comment-field-${Math.random().toString(36).slice(2, 10)}`, [])
  useEffect(() => {
    field.current?.focus()
  }, [])
  const length = bodyLength(text)
  const over = length > max
  const send = async (event: Event) => {
    event.preventDefault()
    const problem = textProblem(text, max)
    if (problem) {
      setError(problem === 'empty' ? t('empty') : t('too_long', { max: num(max) }))
      field.current?.focus()
      return
    }
    await run(() => onSubmit(text.replace(/\r\n/g, '\n').trim()))
  }
  const props = {
    id,
    ref: field,
    value: text,
    'aria-describedby': `${id}-count${error ? ` ${id}-error` : ''}`,
    'aria-invalid': over || !!error ? ('true' as const) : undefined,
    onInput: (event: Event) => setText((event.currentTarget as HTMLTextAreaElement).value),
    onKeyDown: (event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        event.preventDefault()
        onCancel()
      } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        void send(event)
      }
    },
  }
  return (
    <form class="comment-form" onSubmit={(event) => void send(event)}>
      <label for={id}>{label}</label>
      {multiline ? <textarea {...props} rows={3} /> : <input type="text" {...props} />}
      <p id={`${id}-count`} class={over ? 'small error' : 'small muted'}>
        {t('count', { count: num(length), max: num(max) })}
      </p>
      {error && (
        <p id={`${id}-error`} class="error small" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || over}>
          {submit}
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          {t('cancel')}
        </button>
      </div>
    </form>
  )
}

function Thread({
  item,
  session,
  sections,
  viewer,
  open,
  active,
  onActivate,
  reload,
}: {
  item: PlacedThread
  session: DocumentSession
  sections: SectionInfo[]
  viewer: Viewer
  open: boolean
  active: boolean
  onActivate: () => void
  reload: () => Promise<void>
}) {
  const { root, replies } = item.thread
  const [replying, setReplying] = useState(false)
  const replyButton = useRef<HTMLButtonElement>(null)
  const status = useAction(commentError)

  const go = () => {
    onActivate()
    if (!item.orphaned) goToThread(item, sections)
  }

  const setStatus = (to: 'resolve' | 'reopen') =>
    void status.run(async () => {
      // No body is needed, but a POST carries JSON (the server's CSRF guard).
      await api<CommentView>('POST', commentsPath(session, `/${root.id}/${to}`), {})
      announce(t(to === 'resolve' ? 'resolved_done' : 'reopened_done'))
      await reload()
      keepFocusInPanel(root.id)
    })

  const classes = ['thread', item.resolved && 'resolved', item.orphaned && 'orphaned', active && 'active'].filter(Boolean).join(' ')
  return (
    <li
      class={classes}
      id={`thread-${root.id}`}
      tabIndex={-1}
      data-thread={root.id}
      onClick={(event) => {
        const target = event.target as HTMLElement
        if (target.closest('button, a, input, textarea, select, label, summary, form, details')) return
        go()
      }}
    >
      <div class="thread-head">
        {!item.orphaned && (
          <button type="button" class="anchor-link" onClick={go}>
            {item.kind === 'section' ? t('go_section') : item.number ? t('go_paragraph', { number: item.number }) : t('go_unnumbered')}
            <span class="visually-hidden">{t('go_hint')}</span>
          </button>
        )}
        {item.resolved && <span class="badge resolved-badge">{t('resolved')}</span>}
      </div>
      {item.kind === 'range' && item.quote && (
        <blockquote class={item.orphaned ? 'thread-quote gone' : 'thread-quote'}>
          <span class="visually-hidden">{t('quote_label')} </span>
          {shorten(item.quote, 240)}
        </blockquote>
      )}
      {item.changed && item.textNow !== null && (
        <p class="anchor-note small">{t('changed', { text: shorten(item.textNow, 120) })}</p>
      )}
      {item.orphaned && <p class="anchor-note small">{item.kind === 'range' ? t('orphaned') : t('orphaned_section')}</p>}
      <Comment comment={root} session={session} viewer={viewer} open={open} reload={reload} />
      {replies.length > 0 && (
        <ol class="replies" aria-label={t('replies')}>
          {replies.map((reply) => (
            <li key={reply.id}>
              <Comment comment={reply} session={session} viewer={viewer} open={open} reload={reload} />
            </li>
          ))}
        </ol>
      )}
      {replying ? (
        <BodyForm
          label={t('your_reply')}
          submit={t('post_reply')}
          max={MAX_BODY_CHARS}
          onCancel={() => {
            setReplying(false)
            focusSoon(replyButton)
          }}
          onSubmit={async (body) => {
            const request: NewComment = { body, parent: root.id }
            await api<CommentView>('POST', commentsPath(session), request)
            setReplying(false)
            announce(t('reply_posted'))
            await reload()
            focusSoon(replyButton)
          }}
        />
      ) : (
        (canWrite(viewer, open) || canSetStatus(root, viewer, open)) && (
          <div class="actions thread-actions">
            {canWrite(viewer, open) && (
              <button type="button" ref={replyButton} onClick={() => setReplying(true)}>
                {t('reply')}
              </button>
            )}
            {canSetStatus(root, viewer, open) && (
              <button type="button" disabled={status.busy} onClick={() => setStatus(item.resolved ? 'reopen' : 'resolve')}>
                {item.resolved ? t('reopen') : t('resolve')}
              </button>
            )}
          </div>
        )
      )}
      {status.error && (
        <p class="error small" role="alert">
          {status.error}
        </p>
      )}
    </li>
  )
}

type Mode = 'view' | 'edit' | 'delete' | 'hide'

function Comment({
  comment,
  session,
  viewer,
  open,
  reload,
}: {
  comment: CommentView
  session: DocumentSession
  viewer: Viewer
  open: boolean
  reload: () => Promise<void>
}) {
  const [mode, setMode] = useState<Mode>('view')
  const action = useAction(commentError)
  const editButton = useRef<HTMLButtonElement>(null)
  const deleteButton = useRef<HTMLButtonElement>(null)
  const hideButton = useRef<HTMLButtonElement>(null)
  const confirmButton = useRef<HTMLButtonElement>(null)
  const own = comment.author.id === viewer.id
  const path = commentsPath(session, `/${comment.id}`)

  useEffect(() => {
    if (mode === 'delete') confirmButton.current?.focus()
  }, [mode])

  const back = (ref: { current: HTMLElement | null }) => {
    setMode('view')
    focusSoon(ref)
  }

  const body =
    comment.deleted ? (
      <p class="comment-body muted">
        <em>{t('deleted')}</em>
      </p>
    ) : (
      <>
        {comment.hidden && <p class="comment-hidden">{t('hidden', { reason: comment.hidden_reason ?? '' })}</p>}
        {comment.body != null && (
          <p class={comment.hidden ? 'comment-body is-hidden' : 'comment-body'}>{comment.body}</p>
        )}
        {comment.hidden && comment.body != null && <p class="small muted">{t('hidden_private')}</p>}
      </>
    )

  return (
    <article class="comment" id={`comment-${comment.id}`} aria-label={t('by', { name: comment.author.name })}>
      <div class="comment-meta small">
        <span class="comment-author">{comment.author.name}</span>
        {own && <span class="muted">{t('you')}</span>}
        <span aria-hidden="true">·</span>
        <time dateTime={comment.created_at}>{dateTime(comment.created_at)}</time>
        {comment.edited && !comment.deleted && (
          <>
            <span aria-hidden="true">·</span>
            {comment.revisions.length > 0 ? (
              <details class="revisions">
                <summary title={t('edited_title', { date: dateTime(comment.edited_at) })}>{t('edited')}</summary>
                <p class="visually-hidden">{t('earlier')}</p>
                <ol>
                  {comment.revisions.map((revision, i) => (
                    <li key={i}>
                      <span class="muted">{t('version_of', { date: dateTime(revision.at) })}</span>
                      <br />
                      {revision.body}
                    </li>
                  ))}
                </ol>
              </details>
            ) : (
              <span class="edited" title={t('edited_title', { date: dateTime(comment.edited_at) })}>
                {t('edited')}
              </span>
            )}
          </>
        )}
      </div>
      {mode === 'edit' ? (
        <BodyForm
          label={t('edit_label')}
          submit={t('save')}
          max={MAX_BODY_CHARS}
          initial={comment.body ?? ''}
          onCancel={() => back(editButton)}
          onSubmit={async (text) => {
            await api<CommentView>('PATCH', path, { body: text })
            announce(t('saved'))
            await reload()
            back(editButton)
          }}
        />
      ) : (
        body
      )}
      {mode === 'hide' && (
        <BodyForm
          label={t('hide_reason')}
          submit={t('hide_submit')}
          max={MAX_REASON_CHARS}
          multiline={false}
          initial={comment.hidden_reason ?? ''}
          onCancel={() => back(hideButton)}
          onSubmit={async (reason) => {
            await api<CommentView>('POST', `${path}/hide`, { reason })
            announce(t('hidden_done'))
            await reload()
            back(hideButton)
          }}
        />
      )}
      {mode === 'delete' && (
        <div class="comment-confirm" role="group" aria-label={t('delete_confirm')}>
          <p>{t('delete_confirm')}</p>
          <div class="actions">
            <button
              type="button"
              class="danger"
              ref={confirmButton}
              disabled={action.busy}
              onClick={() =>
                void action.run(async () => {
                  await api<CommentView>('DELETE', path)
                  announce(t('deleted_done'))
                  setMode('view')
                  await reload()
                  keepFocusInPanel(comment.thread)
                })
              }
            >
              {t('delete_yes')}
            </button>
            <button type="button" disabled={action.busy} onClick={() => back(deleteButton)}>
              {t('cancel')}
            </button>
          </div>
        </div>
      )}
      {action.error && (
        <p class="error small" role="alert">
          {action.error}
        </p>
      )}
      {mode === 'view' && (canEdit(comment, viewer, open) || canDelete(comment, viewer, open) || canHide(comment, viewer)) && (
        <div class="comment-tools">
          {canEdit(comment, viewer, open) && (
            <button type="button" class="small-button" ref={editButton} onClick={() => setMode('edit')}>
              {t('edit')}
            </button>
          )}
          {canDelete(comment, viewer, open) && (
            <button type="button" class="small-button" ref={deleteButton} onClick={() => setMode('delete')}>
              {t('delete')}
            </button>
          )}
          {canHide(comment, viewer) && (
            <button type="button" class="small-button" ref={hideButton} onClick={() => setMode('hide')}>
              {comment.hidden ? t('hide_again') : t('hide')}
            </button>
          )}
        </div>
      )}
    </article>
  )
}
