import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client'
import type { InvitationPreview, LoginResponse } from '../api/types'
import { dateTime, messages } from '../i18n'
import { navigate } from '../router'
import { me } from '../session'
import { ErrorText, useAction } from '../ui/action'
import { errorText, roleName } from '../ui/common'

const t = messages({
  en: {
    title: 'Join the Manifesto',
    missing: 'This invitation link is incomplete: open the whole link you received.',
    invited_as: 'You are invited as {role} with the address {email}. The link works until {expires}.',
    name: 'Your name, as others will see it',
    password: 'Choose a password',
    password_hint: 'At least 10 characters.',
    confirm: 'Type it again',
    mismatch: 'The two passwords differ.',
    submit: 'Create my account',
    working: 'Creating…',
  },
  fr: {
    title: 'Rejoindre le Manifeste',
    missing: 'Ce lien d’invitation est incomplet : ouvrez le lien entier reçu.',
    invited_as: 'Vous êtes invité·e comme {role} avec l’adresse {email}. Le lien est valable jusqu’au {expires}.',
    name: 'Votre nom, tel que les autres le verront',
    password: 'Choisissez un mot de passe',
    password_hint: '10 caractères au moins.',
    confirm: 'Saisissez-le à nouveau',
    mismatch: 'Les deux mots de passe diffèrent.',
    submit: 'Créer mon compte',
    working: 'Création…',
  },
})

export function Invite() {
  const token = location.hash.slice(1)
  const [preview, setPreview] = useState<InvitationPreview | null>(null)
  // The link's own problem (missing, unknown, used); the form is only offered without one.
  const [linkError, setLinkError] = useState(token ? '' : t('missing'))
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const { run, busy, error, setError } = useAction()

  useEffect(() => {
    if (!token) return
    api<InvitationPreview>('POST', '/api/invitations/preview', { token })
      .then((p) => {
        setPreview(p)
        setName(p.name ?? '')
      })
      .catch((failure) => setLinkError(errorText(failure)))
  }, [token])

  async function submit(event: Event) {
    event.preventDefault()
    if (password !== confirm) {
      setError(t('mismatch'))
      return
    }
    await run(async () => {
      const response = await api<LoginResponse>('POST', '/api/invitations/accept', {
        token,
        password,
        name: preview?.name ? null : name,
      })
      me.value = response.user
      history.replaceState(null, '', '/invite')
      navigate('/', true)
    })
  }

  return (
    <form class="card narrow" onSubmit={submit} aria-labelledby="invite-title">
      <h1 id="invite-title">{t('title')}</h1>
      {preview && (
        <p>
          {t('invited_as', { role: roleName(preview.role), email: preview.email, expires: dateTime(preview.expires_at) })}
        </p>
      )}
      {preview && !preview.name && (
        <label>
          {t('name')}
          <input required maxLength={100} autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
      )}
      {preview && (
        <>
          <label>
            {t('password')}
            <input type="password" required minLength={10} autocomplete="new-password" aria-describedby="pw-hint" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <p id="pw-hint" class="muted small">
            {t('password_hint')}
          </p>
          <label>
            {t('confirm')}
            <input type="password" required autocomplete="new-password" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
          </label>
        </>
      )}
      <ErrorText error={linkError || error} />
      {preview && (
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t('working') : t('submit')}
        </button>
      )}
    </form>
  )
}
