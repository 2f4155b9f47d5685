// Drawing the server's rich text (spans with emphasis and strong) and word diffs.
import type { ComponentChildren } from 'preact'
import type { DiffOp, Span } from '../../api/types'
import { messages } from '../../i18n'
import { diffPieces } from './compare'

const t = messages({
  en: {
    inserted: 'inserted: ',
    deleted: 'deleted: ',
    end: ' (end)',
  },
  fr: {
    inserted: 'ajouté : ',
    deleted: 'supprimé : ',
    end: ' (fin)',
  },
})

export function RichText({ spans }: { spans: Span[] | null | undefined }) {
  return (
    <>
      {(spans ?? []).map((span, i) => {
        let node: ComponentChildren = span.text
        if (span.em) node = <em>{node}</em>
        if (span.strong) node = <strong>{node}</strong>
        return <span key={i}>{node}</span>
      })}
    </>
  )
}

/**
 * A word diff: insertions in `<ins>`, deletions in `<del>`, each opened and closed by words
 * that screen readers say (they do not announce the elements themselves).
 */
export function WordDiff({ ops }: { ops: DiffOp[] }) {
  return (
    <>
      {diffPieces(ops).map((piece, i) => {
        if (piece.kind !== 'insert' && piece.kind !== 'delete') return <span key={i}>{piece.text}</span>
        const Change = piece.kind === 'insert' ? 'ins' : 'del'
        return (
          <Change key={i}>
            <span class="visually-hidden">[{t(piece.kind === 'insert' ? 'inserted' : 'deleted')}</span>
            {piece.text}
            <span class="visually-hidden">{t('end')}]</span>
          </Change>
        )
      })}
    </>
  )
}
