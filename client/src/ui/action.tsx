// One request at a time for a control: `busy` while it runs (buttons disable themselves), then
// the error in words, or the success message (also announced). `feedback` renders both.
import { useState } from 'preact/hooks'
import { announce } from './announce'
import { errorText } from './common'

export function useAction(describe: (failure: unknown) => string = errorText) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')
  const [done, setDone] = useState('')
  async function run(action: () => Promise<string | void>): Promise<boolean> {
    setBusy(true)
    setError('')
    setDone('')
    try {
      const message = await action()
      if (message) {
        setDone(message)
        announce(message)
      }
      return true
    } catch (failure) {
      setError(describe(failure))
      return false
    } finally {
      setBusy(false)
    }
  }
  const feedback =
    error || done ? (
      <div class="feedback">
        <ErrorText error={error} />
        {done && <p class="success">{done}</p>}
      </div>
    ) : null
  return { run, busy, error, setError, done, feedback }
}

/** An error sentence, read out at once (`role="alert"`); nothing when there is none. */
export function ErrorText({ error, small = false }: { error: string; small?: boolean }) {
  if (!error) return null
  return (
    <p class={small ? 'error small' : 'error'} role="alert">
      {error}
    </p>
  )
}
