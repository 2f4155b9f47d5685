import { useEffect, useState } from 'preact/hooks'
import { api, query } from '../api/client'
import type { DocumentView } from '../api/types'
import { dateTime, messages } from '../i18n'
import { documentPath } from '../router'
import { isSecretariat } from '../session'
import { ErrorText } from '../ui/action'
import { errorText, phaseName } from '../ui/common'
import { Link } from '../ui/Link'
import { NewDocument } from '../features/admin/NewDocument'

const t = messages({
  en: {
    title: 'Documents',
    none: 'No document yet.',
    none_secretariat: 'No document yet: create the first one below.',
    phase: 'Phase',
    deadline: 'Deadline',
    no_deadline: 'none',
    passed: '(passed)',
    since: 'since {date}',
    show_archived: 'Show archived documents',
    document: 'Document',
  },
  fr: {
    title: 'Documents',
    none: 'Aucun document pour l’instant.',
    none_secretariat: 'Aucun document : créez le premier ci-dessous.',
    phase: 'Phase',
    deadline: 'Échéance',
    no_deadline: 'aucune',
    passed: '(passée)',
    since: 'depuis le {date}',
    show_archived: 'Afficher les documents archivés',
    document: 'Document',
  },
})

export function Documents() {
  const [documents, setDocuments] = useState<DocumentView[] | null>(null)
  const [archived, setArchived] = useState(false)
  const [error, setError] = useState('')

  function load() {
    api<DocumentView[]>('GET', `/api/documents${query({ archived: archived || undefined })}`)
      .then((list) => {
        setDocuments(list)
        setError('')
      })
      .catch((failure) => setError(errorText(failure)))
  }
  useEffect(load, [archived])

  return (
    <section class="page" aria-labelledby="documents-title">
      <h1 id="documents-title">{t('title')}</h1>
      <ErrorText error={error} />
      <label class="inline">
        <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} />
        {t('show_archived')}
      </label>
      {documents && documents.length === 0 && <p>{isSecretariat() ? t('none_secretariat') : t('none')}</p>}
      {documents && documents.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">{t('document')}</th>
              <th scope="col">{t('phase')}</th>
              <th scope="col">{t('deadline')}</th>
            </tr>
          </thead>
          <tbody>
            {documents.map((d) => (
              <tr key={d.id}>
                <td>
                  <Link href={documentPath(d.id)} class="document-link">
                    {d.title}
                  </Link>
                  {d.metadata.forum && <div class="muted small">{d.metadata.forum}</div>}
                </td>
                <td>
                  <span class={`phase phase-${d.phase}`}>{phaseName(d.phase)}</span>
                  <div class="muted small">{t('since', { date: dateTime(d.phase_since) })}</div>
                </td>
                <td>
                  {d.deadline ? dateTime(d.deadline) : t('no_deadline')} {d.deadline_passed && t('passed')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {isSecretariat() && <NewDocument onCreated={load} />}
    </section>
  )
}
