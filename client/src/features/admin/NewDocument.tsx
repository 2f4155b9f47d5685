import { useState } from 'preact/hooks'
import { api } from '../../api/client'
import type { DocumentView, NewDocument as NewDocumentBody } from '../../api/types'
import { messages } from '../../i18n'
import { documentPath, navigate } from '../../router'
import { ErrorText, useAction } from '../../ui/action'

const t = messages({
  en: {
    title: 'Create a document',
    doc_title: 'Title',
    language: 'Language of the text',
    start: 'Start with',
    empty: 'an empty text',
    template: 'the template (preamble, three sections, closing call)',
    markdown: 'a Markdown file',
    file: 'Markdown file',
    submit: 'Create',
    working: 'Creating…',
    english: 'English',
    french: 'French',
    file_required: 'Choose a Markdown file to import.',
  },
  fr: {
    title: 'Créer un document',
    doc_title: 'Titre',
    language: 'Langue du texte',
    start: 'Partir de',
    empty: 'un texte vide',
    template: 'du modèle (préambule, trois sections, appel final)',
    markdown: 'un fichier Markdown',
    file: 'Fichier Markdown',
    submit: 'Créer',
    working: 'Création…',
    english: 'anglais',
    french: 'français',
    file_required: 'Choisissez un fichier Markdown à importer.',
  },
})

/** The secretariat's form to create a document: empty, from the template, or imported. */
export function NewDocument({ onCreated }: { onCreated?: () => void }) {
  const [title, setTitle] = useState('')
  const [language, setLanguage] = useState('en')
  const [start, setStart] = useState<'empty' | 'template' | 'markdown'>('template')
  const [file, setFile] = useState<File | null>(null)
  const { run, busy, error, setError } = useAction()

  async function submit(event: Event) {
    event.preventDefault()
    setError('')
    const body: NewDocumentBody = { start_with: start, language }
    if (title.trim()) body.title = title.trim()
    if (start === 'markdown') {
      if (!file) {
        setError(t('file_required'))
        return
      }
      body.markdown = await file.text()
    }
    await run(async () => {
      const created = await api<DocumentView>('POST', '/api/documents', body)
      onCreated?.()
      navigate(documentPath(created.id))
    })
  }

  return (
    <form class="card" onSubmit={submit} aria-labelledby="new-document-title">
      <h2 id="new-document-title">{t('title')}</h2>
      <label>
        {t('doc_title')}
        <input value={title} maxLength={200} required={start !== 'markdown'} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        {t('language')}
        <select value={language} onChange={(e) => setLanguage(e.currentTarget.value)}>
          <option value="en">{t('english')}</option>
          <option value="fr">{t('french')}</option>
        </select>
      </label>
      <fieldset>
        <legend>{t('start')}</legend>
        {(['empty', 'template', 'markdown'] as const).map((value) => (
          <label class="inline" key={value}>
            <input type="radio" name="start_with" value={value} checked={start === value} onChange={() => setStart(value)} />
            {t(value)}
          </label>
        ))}
      </fieldset>
      {start === 'markdown' && (
        <label>
          {t('file')}
          <input type="file" accept=".md,.markdown,text/markdown,text/plain" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        </label>
      )}
      <ErrorText error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t('working') : t('submit')}
      </button>
    </form>
  )
}
