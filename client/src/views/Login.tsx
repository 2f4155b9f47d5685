import { useState } from 'preact/hooks'
import { messages } from '../i18n'
import { logIn } from '../session'
import { ErrorText, useAction } from '../ui/action'

const t = messages({
  en: {
    title: 'Log in',
    intro: 'Write, amend and adopt the forum’s Manifesto together.',
    email: 'Email',
    password: 'Password',
    submit: 'Log in',
    working: 'Logging in…',
    invited: 'Invited? Open the link you received to choose your password.',
  },
  fr: {
    title: 'Connexion',
    intro: 'Rédiger, amender et adopter ensemble le Manifeste du forum.',
    email: 'Adresse électronique',
    password: 'Mot de passe',
    submit: 'Se connecter',
    working: 'Connexion…',
    invited: 'Invité·e ? Ouvrez le lien reçu pour choisir votre mot de passe.',
  },
})

/** The login form; `onDone` runs once logged in. */
export function LoginForm({ onDone, headingLevel = 1 }: { onDone?: () => void; headingLevel?: 1 | 2 }) {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const { run, busy, error } = useAction()
  const Heading = headingLevel === 1 ? 'h1' : 'h2'
  async function submit(event: Event) {
    event.preventDefault()
    await run(async () => {
      await logIn(email, password)
      onDone?.()
    })
  }
  return (
    <form class="card narrow" onSubmit={submit} aria-labelledby="login-title">
      <Heading id="login-title">{t('title')}</Heading>
      <p class="muted">{t('intro')}</p>
      <label>
        {t('email')}
        <input type="email" name="email" autocomplete="username" required autoFocus={headingLevel === 2} value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label>
        {t('password')}
        <input type="password" name="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <ErrorText error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t('working') : t('submit')}
      </button>
      <p class="muted small">{t('invited')}</p>
    </form>
  )
}
