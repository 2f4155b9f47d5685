// What the amendments, votes and queue views share: names of statuses and kinds, the diff as
// <ins>/<del>, messages for the server's refusals, the loading/failed state of a list, bringing
// an item's heading into view, and a small action helper (busy flag, error, success) for buttons.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { useAction as useSharedAction } from '../../ui/action'
import { ApiFailure } from '../../api/client'
import type { AmendmentKind, AmendmentStatus, AmendmentView, DiffOp } from '../../api/types'
import { messages } from '../../i18n'
import { errorText, t as common } from '../../ui/common'
import { excerpt, plainText, tidyDiff, typo } from './text'

export const t = messages({
  en: {
    status_submitted: 'Awaiting screening',
    status_withdrawn: 'Withdrawn',
    status_inadmissible: 'Inadmissible',
    status_accepted: 'Accepted (friendly)',
    status_to_vote: 'Put to a vote',
    status_adopted: 'Adopted',
    status_rejected: 'Rejected',
    status_fallen: 'Fallen',
    status_void: 'Void (no quorum)',
    kind_replace: 'Replace paragraph {target}',
    kind_delete: 'Delete paragraph {target}',
    kind_insert_after: 'New paragraph after {target}',
    kind_insert_section: 'New section after section {target}',
    kind_delete_section: 'Delete section {target}',
    unnumbered: '“{start}”',
    gone: 'a paragraph no longer in the text',
    inserted: 'inserted',
    deleted: 'deleted',
    diff_label: 'Proposed change',
    no_change: 'No change.',
    err_supporters: 'This amendment does not have enough supporters yet to be screened ({min} needed).',
    err_status: 'This is no longer possible: the amendment’s status has changed. The list is up to date again.',
    err_conflict: 'The amendment cannot be applied: the paragraph changed since it was written, in the same words. Nothing was applied.',
    err_cap: 'You already have as many pending amendments as allowed ({max}): withdraw one first.',
    err_ballot_closed: 'This ballot is closed: no more votes are taken.',
    err_not_eligible: 'You are not among this ballot’s eligible voters.',
    err_busy_subject: 'A ballot on this amendment is already open.',
    err_block: 'This paragraph is no longer in the text.',
    cancel: 'Cancel',
  },
  fr: typo({
    status_submitted: 'En attente d’examen',
    status_withdrawn: 'Retiré',
    status_inadmissible: 'Irrecevable',
    status_accepted: 'Accepté (amendement amical)',
    status_to_vote: 'Soumis au vote',
    status_adopted: 'Adopté',
    status_rejected: 'Rejeté',
    status_fallen: 'Tombé',
    status_void: 'Nul (quorum non atteint)',
    kind_replace: 'Remplacer le paragraphe {target}',
    kind_delete: 'Supprimer le paragraphe {target}',
    kind_insert_after: 'Nouveau paragraphe après le {target}',
    kind_insert_section: 'Nouvelle section après la section {target}',
    kind_delete_section: 'Supprimer la section {target}',
    unnumbered: '« {start} »',
    gone: 'un paragraphe qui n’est plus dans le texte',
    inserted: 'ajouté',
    deleted: 'supprimé',
    diff_label: 'Modification proposée',
    no_change: 'Aucune modification.',
    err_supporters: 'Cet amendement n’a pas encore assez de soutiens pour être examiné ({min} nécessaires).',
    err_status: 'Ce n’est plus possible : le statut de l’amendement a changé. La liste est de nouveau à jour.',
    err_conflict: 'L’amendement ne peut pas être appliqué : le paragraphe a changé depuis, sur les mêmes mots. Rien n’a été appliqué.',
    err_cap: 'Vous avez déjà autant d’amendements en attente que permis ({max}) : retirez-en un d’abord.',
    err_ballot_closed: 'Ce scrutin est clos : il ne reçoit plus de votes.',
    err_not_eligible: 'Vous ne faites pas partie des votant·es de ce scrutin.',
    err_busy_subject: 'Un scrutin est déjà ouvert sur cet amendement.',
    err_block: 'Ce paragraphe n’est plus dans le texte.',
    cancel: 'Annuler',
  }),
})

export function statusName(status: AmendmentStatus): string {
  return t(`status_${status}`)
}

/** "Replace paragraph 1.1", "New paragraph after “Gathered in Geneva…”". */
export function kindTitle(kind: AmendmentKind, target: string): string {
  return t(`kind_${kind}`, { target })
}

/** How to name an amendment's target: its number, else the start of its text. */
export function targetName(a: Pick<AmendmentView, 'target_number' | 'target_exists' | 'current_text'>): string {
  if (a.target_number) return a.target_number
  if (!a.target_exists) return t('gone')
  return t('unnumbered', { start: excerpt(plainText(a.current_text), 40) })
}

export function amendmentTitle(a: AmendmentView): string {
  return `${a.label} · ${kindTitle(a.kind, targetName(a))}`
}

/** A word diff as text with <ins> and <del>, each also named for screen readers. */
export function Diff({ ops, class: className }: { ops: readonly DiffOp[]; class?: string }) {
  const tidy = tidyDiff(ops)
  return (
    <p class={`diff ${className ?? ''}`} aria-label={t('diff_label')} role="group">
      {tidy.length === 0 && <span class="muted">{t('no_change')}</span>}
      {tidy.map((op, i) =>
        op.kind === 'insert' ? (
          <ins key={i}>
            <span class="visually-hidden">[{t('inserted')}: </span>
            {op.text}
            <span class="visually-hidden">]</span>
          </ins>
        ) : op.kind === 'delete' ? (
          <del key={i}>
            <span class="visually-hidden">[{t('deleted')}: </span>
            {op.text}
            <span class="visually-hidden">]</span>
          </del>
        ) : (
          <span key={i}>{op.text}</span>
        ),
      )}
    </p>
  )
}

/** A sentence for a refusal of the amendments' and ballots' routes. */
export function refusal(error: unknown, context: { min?: number; max?: number } = {}): string {
  if (error instanceof ApiFailure) {
    switch (error.code) {
      case 'not_enough_supporters':
        return t('err_supporters', { min: context.min ?? 0 })
      case 'amendment_status':
        return t('err_status')
      case 'conflict':
        return t('err_conflict')
      case 'ballot_closed':
        return t('err_ballot_closed')
      case 'not_eligible':
        return t('err_not_eligible')
      case 'ballot_subject_busy':
        return t('err_busy_subject')
      case 'block_not_found':
        return t('err_block')
      case 'forbidden':
        if (context.max !== undefined && /pending/.test(error.message)) return t('err_cap', { max: context.max })
    }
  }
  return errorText(error)
}

/**
 * Loading (while nothing is loaded yet), or why the list could not be loaded or refreshed
 * (the last one stays shown), with a button to try again.
 */
export function LoadState({
  loaded,
  error,
  loading,
  busy,
  onRetry,
}: {
  loaded: boolean
  error: unknown
  loading: string
  busy?: boolean
  onRetry: () => void
}) {
  if (error == null) return loaded ? null : <p class="muted">{loading}</p>
  return (
    <div class="card">
      <p class="error" role="alert">
        {refusal(error)}
      </p>
      <button type="button" onClick={onRetry} disabled={busy}>
        {common('retry')}
      </button>
    </div>
  )
}

/**
 * An item to bring into view (asked for in the address, or just made): once `list` is loaded,
 * the heading `{prefix}-{id}-title` scrolls to the top and takes the focus. Returns the setter
 * that asks for another.
 */
export function useRevealHeading(prefix: string, initial: number | null, list: unknown): (id: number) => void {
  const [focusId, setFocusId] = useState<number | null>(initial)
  useEffect(() => {
    if (focusId === null || !list) return
    const heading = document.getElementById(`${prefix}-${focusId}-title`)
    if (heading) {
      heading.scrollIntoView({ block: 'start' })
      heading.focus({ preventScroll: true })
    }
    setFocusId(null)
  }, [list, focusId])
  return setFocusId
}

/** The shared `useAction`, with the server's refusals said in amendment and ballot terms. */
export function useAction(context: { min?: number; max?: number } = {}) {
  return useSharedAction((failure) => refusal(failure, context))
}

/**
 * A second step before something that cannot be undone: the question, a button that does it
 * (focused when it appears) and one that cancels (so does Escape).
 */
export function Confirm({
  text,
  yes,
  busy,
  onYes,
  onCancel,
}: {
  text: string
  yes: string
  busy: boolean
  onYes: () => void
  onCancel: () => void
}) {
  const button = useRef<HTMLButtonElement>(null)
  // At once, in the same commit: a key pressed right after opening must reach the group.
  useLayoutEffect(() => button.current?.focus(), [])
  return (
    <div
      class="confirm"
      role="group"
      aria-label={text}
      onKeyDown={(event) => {
        if (event.key === 'Escape') {
          event.preventDefault()
          onCancel()
        }
      }}
    >
      <p>{text}</p>
      <div class="actions">
        <button ref={button} type="button" class="danger" disabled={busy} onClick={onYes}>
          {yes}
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </div>
  )
}
