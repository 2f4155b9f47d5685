// Announcements for screen readers: live changes (a new comment, a result, a phase) are
// spoken through one polite live region the app frame renders.
import { signal } from '@preact/signals'

export const announcement = signal('')

let clear: ReturnType<typeof setTimeout> | undefined

export function announce(text: string) {
  // Re-setting the same text would not be read again: blank it first.
  announcement.value = ''
  queueMicrotask(() => {
    announcement.value = text
  })
  clearTimeout(clear)
  clear = setTimeout(() => {
    announcement.value = ''
  }, 8000)
}
