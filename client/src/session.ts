// Who is logged in, and the app's language kept on their account.
import { signal } from '@preact/signals'
import { api, ApiFailure, sessionEnded } from './api/client'
import type { LoginResponse, MemberView, WhoAmI } from './api/types'
import { lang, type Lang } from './i18n'

/** The person logged in; `undefined` while unknown, `null` when nobody is. */
export const me = signal<MemberView | null | undefined>(undefined)

function adopt(user: MemberView) {
  me.value = user
  sessionEnded.value = false
  if (user.language === 'en' || user.language === 'fr') lang.value = user.language
  else void rememberLanguage(lang.value, user)
}

export async function loadSession(): Promise<void> {
  try {
    const who = await api<WhoAmI>('GET', '/api/session')
    adopt(who.user)
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 401) me.value = null
    else throw error
  }
}

export async function logIn(email: string, password: string): Promise<void> {
  const response = await api<LoginResponse>('POST', '/api/session', { email, password })
  adopt(response.user)
}

export async function logOut(): Promise<void> {
  try {
    await api('DELETE', '/api/session')
  } finally {
    me.value = null
  }
}

/** Switches the language now and keeps it on the account. */
export async function chooseLanguage(value: Lang): Promise<void> {
  lang.value = value
  const user = me.value
  if (user) await rememberLanguage(value, user)
}

async function rememberLanguage(value: Lang, user: MemberView) {
  if (user.language === value) return
  try {
    me.value = await api<MemberView>('PATCH', '/api/me', { language: value })
  } catch {
    /* the choice still holds in this browser */
  }
}

export const isSecretariat = () => me.value?.role === 'secretariat'
export const isObserver = () => me.value?.role === 'observer'
