// Every string of the app exists in English and French, is not empty, and keeps the same
// placeholders in both languages.
import { describe, expect, it } from 'vitest'
import { catalogs, fill } from '../src/i18n'

// Load every module so that each registers its catalog.
import.meta.glob(['../src/**/*.{ts,tsx}', '!../src/main.tsx'], { eager: true })

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
}

describe('translations', () => {
  it('are registered by the app’s modules', () => {
    expect(catalogs.length).toBeGreaterThan(5)
  })

  it('have every key in both languages, non-empty, with the same placeholders', () => {
    const problems: string[] = []
    for (const catalog of catalogs) {
      const en = Object.keys(catalog.en).sort()
      const fr = Object.keys(catalog.fr).sort()
      expect(fr).toEqual(en)
      for (const key of en) {
        const english = catalog.en[key]
        const french = catalog.fr[key]
        if (!english.trim() || !french.trim()) problems.push(`${key}: empty`)
        if (placeholders(english).join() !== placeholders(french).join()) {
          problems.push(`${key}: placeholders differ (${english} / ${french})`)
        }
      }
    }
    expect(problems).toEqual([])
  })

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(fill('{a} and {b}', { a: 1 })).toBe('1 and {b}')
  })
})
