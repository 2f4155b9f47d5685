import { useEffect, useState } from 'preact/hooks'

/** The current time, refreshed every second while `active`. */
export function useNow(active = true, every = 1000): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    if (!active) return
    const timer = setInterval(() => setNow(Date.now()), every)
    return () => clearInterval(timer)
  }, [active, every])
  return now
}
