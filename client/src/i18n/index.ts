// Translations. Each part of the app declares its own catalog with `messages({ en, fr })`;
// the French catalog must have every English key (the type checker says so), and
// `test/i18n.test.ts` checks that no string is empty or untranslated placeholder-wise.
// The language is the person's choice kept on their account (PATCH /api/me), else the one
// last used in this browser, else the browser's.
import { effect, signal } from '@preact/signals'

export type Lang = 'en' | 'fr'
export const LANGS: Lang[] = ['en', 'fr']

const STORAGE_KEY = 'manifesto.lang'

function initial(): Lang {
  try {
    const stored = globalThis.localStorage?.getItem(STORAGE_KEY)
    if (stored === 'en' || stored === 'fr') return stored
  } catch {
    /* storage may be blocked */
  }
  const browser = globalThis.navigator?.language ?? 'en'
  return browser.toLowerCase().startsWith('fr') ? 'fr' : 'en'
}

export const lang = signal<Lang>(initial())

effect(() => {
  const value = lang.value
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, value)
  } catch {
    /* ignore */
  }
  if (globalThis.document) document.documentElement.lang = value
})

export type Params = Record<string, string | number>
export type Catalog<K extends string> = { en: Record<K, string>; fr: Record<K, string> }

/** Every catalog, for the completeness test. */
export const catalogs: Catalog<string>[] = []

/** Fills `{name}` placeholders. */
export function fill(template: string, params?: Params): string {
  if (!params) return template
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  )
}

/** A translation function over `catalog`, reading the current language. */
export function messages<K extends string>(catalog: Catalog<K>) {
  catalogs.push(catalog as Catalog<string>)
  return (key: K, params?: Params): string => fill(catalog[lang.value][key] ?? catalog.en[key], params)
}

/** A date and time in the current language, e.g. "24 Nov 2026, 14:05". */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return iso
  return new Intl.DateTimeFormat(lang.value === 'fr' ? 'fr-FR' : 'en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
  }).format(date)
}

/** A number in the current language. */
export function num(value: number): string {
  return new Intl.NumberFormat(lang.value === 'fr' ? 'fr-FR' : 'en-GB').format(value)
}
