// Path routing over the History API: the server answers every app path with index.html.
import { signal } from '@preact/signals'

export const path = signal(globalThis.location?.pathname ?? '/')

export function navigate(to: string, replace = false) {
  if (to === location.pathname + location.search) return
  if (replace) history.replaceState(null, '', to)
  else history.pushState(null, '', to)
  path.value = location.pathname
  window.scrollTo(0, 0)
}

globalThis.addEventListener?.('popstate', () => {
  path.value = location.pathname
})

export type Route =
  | { view: 'login' }
  | { view: 'invite' }
  | { view: 'documents' }
  | { view: 'queue' }
  | { view: 'admin'; tab: 'members' | 'audit' }
  | { view: 'document'; id: string; tab: DocumentTab }
  | { view: 'not_found' }

export const DOCUMENT_TABS = ['text', 'amendments', 'votes', 'history', 'manage'] as const
export type DocumentTab = (typeof DOCUMENT_TABS)[number]

export function parse(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent)
  if (parts.length === 0) return { view: 'documents' }
  const [first, second, third] = parts
  if (first === 'login' && parts.length === 1) return { view: 'login' }
  if (first === 'invite' && parts.length === 1) return { view: 'invite' }
  if (first === 'queue' && parts.length === 1) return { view: 'queue' }
  if (first === 'admin' && parts.length <= 2) {
    const tab = second === 'audit' ? 'audit' : second === undefined || second === 'members' ? 'members' : null
    return tab ? { view: 'admin', tab } : { view: 'not_found' }
  }
  if (first === 'documents' && second && parts.length <= 3) {
    const tab = (third ?? 'text') as DocumentTab
    if (DOCUMENT_TABS.includes(tab)) return { view: 'document', id: second, tab }
  }
  return { view: 'not_found' }
}

export function documentPath(id: string, tab: DocumentTab = 'text'): string {
  const base = `/documents/${encodeURIComponent(id)}`
  return tab === 'text' ? base : `${base}/${tab}`
}
