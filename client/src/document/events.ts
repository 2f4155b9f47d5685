// The document's live events (Server-Sent Events at /api/documents/{id}/events). The browser's
// EventSource reconnects by itself and sends `Last-Event-ID`, so nothing is missed; `resync`
// (too far behind) asks every part of the page to reload what it shows.
import { signal } from '@preact/signals'

export interface LiveEvent {
  id: number
  kind: string
  at?: string
  /** The changed object, as the API shows it. */
  data?: any
}

/** Every kind the server sends (EventSource has no wildcard listener). */
export const EVENT_KINDS = [
  'phase.changed',
  'phase.deadline_passed',
  'deadline.changed',
  'document.updated',
  'version.created',
  'text.corrected',
  'member.joined',
  'member.updated',
  'comment.created',
  'comment.updated',
  'comment.resolved',
  'comment.reopened',
  'comment.deleted',
  'comment.hidden',
  'amendment.tabled',
  'amendment.updated',
  'amendment.edited',
  'amendment.supported',
  'amendment.support_withdrawn',
  'amendment.withdrawn',
  'amendment.screened',
  'amendment.order_set',
  'ballot.opened',
  'vote.cast',
  'ballot.closed',
]

export type Listener = (event: LiveEvent) => void

export class EventFeed {
  private source: EventSource | null = null
  private listeners = new Set<{ prefix: string; listener: Listener }>()
  /** The server's durable state vector (v1), from `saved` events. */
  readonly saved = signal<Uint8Array | null>(null)
  /** When the last `saved` event arrived (ms). */
  savedAt = 0
  readonly connected = signal(false)

  /** Called when the stream fails (the browser then retries by itself). */
  onError: () => void = () => {}

  constructor(private readonly url: string) {}

  start() {
    if (this.source) return
    const source = new EventSource(this.url, { withCredentials: true })
    this.source = source
    source.onopen = () => (this.connected.value = true)
    source.onerror = () => {
      this.connected.value = false
      this.onError()
    }
    source.addEventListener('saved', (message) => {
      try {
        const { state_vector } = JSON.parse((message as MessageEvent).data)
        this.saved.value = Uint8Array.from(atob(state_vector), (c) => c.charCodeAt(0))
        this.savedAt = Date.now()
      } catch {
        /* ignore a malformed frame */
      }
    })
    source.addEventListener('resync', () => this.dispatch({ id: 0, kind: 'resync' }))
    for (const kind of EVENT_KINDS) {
      source.addEventListener(kind, (message) => this.receive(message as MessageEvent))
    }
  }

  private receive(message: MessageEvent) {
    try {
      const data = JSON.parse(message.data)
      this.dispatch({ id: Number(message.lastEventId) || data.id || 0, kind: message.type, at: data.at, data: data.data })
    } catch {
      /* ignore */
    }
  }

  private dispatch(event: LiveEvent) {
    const seen = new Set<Listener>()
    for (const { prefix, listener } of this.listeners) {
      if (event.kind === 'resync' || event.kind.startsWith(prefix)) {
        // Each listener once per event, even when two of its prefixes match.
        if (seen.has(listener)) continue
        seen.add(listener)
        listener(event)
      }
    }
  }

  /**
   * Calls `listener` for every event whose kind starts with one of `prefixes` (`comment.`,
   * `phase.changed`…) and for `resync`. Returns the unsubscribe function.
   */
  on(prefixes: string[], listener: Listener): () => void {
    const entries = prefixes.map((prefix) => ({ prefix, listener }))
    for (const entry of entries) this.listeners.add(entry)
    return () => entries.forEach((entry) => this.listeners.delete(entry))
  }

  stop() {
    this.source?.close()
    this.source = null
    this.connected.value = false
  }
}
