import { useEffect } from 'preact/hooks'
import { sessionEnded, waitUntil } from './api/client'
import { LANGS, lang, type Lang } from './i18n'
import { navigate, parse, path } from './router'
import { chooseLanguage, isSecretariat, logOut, me } from './session'
import { announcement } from './ui/announce'
import { roleName, t } from './ui/common'
import { Link } from './ui/Link'
import { Documents } from './views/Documents'
import { Invite } from './views/Invite'
import { LoginForm } from './views/Login'
import { Workspace } from './views/Workspace'
import { Queue } from './features/queue/Queue'
import { Members } from './features/admin/Members'
import { Audit } from './features/admin/Audit'
import { useNow } from './ui/hooks'

export function App() {
  const route = parse(path.value)
  const user = me.value

  // Not logged in: the login view, then back where the person was going.
  useEffect(() => {
    if (user === null && route.view !== 'login' && route.view !== 'invite') {
      const back = location.pathname + location.search
      navigate(`/login${back !== '/' ? `?next=${encodeURIComponent(back)}` : ''}`, true)
    }
    if (user && route.view === 'login') {
      const next = new URLSearchParams(location.search).get('next')
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', true)
    }
  }, [user, route.view])

  if (user === undefined) return <p class="page">{t('loading')}</p>

  let main
  switch (route.view) {
    case 'login':
      main = <LoginForm />
      break
    case 'invite':
      main = <Invite />
      break
    case 'documents':
      main = user && <Documents />
      break
    case 'queue':
      main = user && <Queue />
      break
    case 'admin':
      main = user && (isSecretariat() ? route.tab === 'audit' ? <Audit /> : <Members /> : <NotFound />)
      break
    case 'document':
      main = user && <Workspace key={route.id} id={route.id} tab={route.tab} />
      break
    default:
      main = <NotFound />
  }

  return (
    <>
      <a class="skip-link" href="#main">
        {t('skip_to_content')}
      </a>
      <header class="app-header">
        <Link href="/" class="brand">
          {t('app_name')}
        </Link>
        {user && (
          <nav aria-label={t('nav_main')}>
            <Link href="/" aria-current={route.view === 'documents' ? 'page' : undefined}>
              {t('nav_documents')}
            </Link>
            <Link href="/queue" aria-current={route.view === 'queue' ? 'page' : undefined}>
              {t('nav_queue')}
            </Link>
            {isSecretariat() && (
              <>
                <Link href="/admin/members" aria-current={route.view === 'admin' && route.tab === 'members' ? 'page' : undefined}>
                  {t('nav_members')}
                </Link>
                <Link href="/admin/audit" aria-current={route.view === 'admin' && route.tab === 'audit' ? 'page' : undefined}>
                  {t('nav_audit')}
                </Link>
              </>
            )}
          </nav>
        )}
        <div class="header-end">
          <label class="lang-switch">
            <span class="visually-hidden">{t('language')}</span>
            <select value={lang.value} onChange={(e) => void chooseLanguage(e.currentTarget.value as Lang)} aria-label={t('language')}>
              {LANGS.map((l) => (
                <option key={l} value={l}>
                  {l === 'en' ? 'English' : 'Français'}
                </option>
              ))}
            </select>
          </label>
          {user && (
            <>
              <span class="who">{t('logged_in_as', { name: user.name, role: roleName(user.role) })}</span>
              <button type="button" class="link-button" onClick={() => void logOut().then(() => navigate('/login'))}>
                {t('log_out')}
              </button>
            </>
          )}
        </div>
      </header>
      <WaitBanner />
      <main id="main" tabIndex={-1}>
        {main}
      </main>
      {sessionEnded.value && user && <SessionEnded />}
      <div class="visually-hidden" role="status" aria-live="polite">
        {announcement.value}
      </div>
    </>
  )
}

function NotFound() {
  return (
    <section class="page">
      <h1>{t('not_found_title')}</h1>
      <p>{t('not_found_body')}</p>
      <Link href="/">{t('back_to_documents')}</Link>
    </section>
  )
}

/** 429 or busy: how long to wait, counting down. */
function WaitBanner() {
  const now = useNow(waitUntil.value > Date.now())
  const seconds = Math.ceil((waitUntil.value - now) / 1000)
  if (seconds <= 0) return null
  return (
    <p class="banner warning" role="alert">
      {t('wait_message', { seconds })}
    </p>
  )
}

/** The session ended while the page was open: log in again in place (the editor and any
 * open form stay mounted underneath, so nothing typed is lost). */
function SessionEnded() {
  return (
    <div class="modal-backdrop">
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="session-ended-title">
        <h2 id="session-ended-title">{t('session_ended_title')}</h2>
        <p>{t('session_ended_body')}</p>
        <LoginForm headingLevel={2} onDone={() => (sessionEnded.value = false)} />
      </div>
    </div>
  )
}
