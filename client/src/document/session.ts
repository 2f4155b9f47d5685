// Everything about one open document that the views of its page share: its record (phase,
// deadline…), the live text (a Yjs document synced with the server over y-websocket and kept
// in IndexedDB), presence, the event feed, the connection state and what is selected.
import { computed, signal } from '@preact/signals'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { api } from '../api/client'
import type { DocumentView, MemberView } from '../api/types'
import type { SectionInfo } from '../editor/structure'
import { EventFeed } from './events'
import { colourFor } from './colours'
import { savedCovers } from './saved'

export type ConnectionState = 'connecting' | 'offline' | 'syncing' | 'saving' | 'saved'

/** What the person has selected in the text, in the server's terms (UTF-16 offsets). */
export interface TextSelection {
  /** The block the selection starts in. */
  block: string | null
  blockType: 'heading' | 'paragraph'
  section: string
  /** Offsets within the block's text; equal when nothing is selected. */
  start: number
  end: number
  quote: string
}

export interface Highlight {
  key: string
  block: string
  start: number
  end: number
  className: string
}

export interface Presence {
  clientId: number
  name: string
  colour: string
  self: boolean
}

export class DocumentSession {
  readonly record = signal<DocumentView | null>(null)
  readonly loadError = signal<unknown>(null)
  readonly ydoc = new Y.Doc()
  readonly fragment = this.ydoc.getXmlFragment('prosemirror')
  readonly provider: WebsocketProvider
  readonly local: IndexeddbPersistence
  readonly feed: EventFeed
  readonly sections = signal<SectionInfo[]>([])
  readonly selection = signal<TextSelection | null>(null)
  /**
   * Ranges to mark in the text (comment anchors): block id, UTF-16 offsets in its text, a
   * class and a key. The editor draws them as inline decorations.
   */
  readonly highlights = signal<Highlight[]>([])
  /** Open comment threads per section id (the comments panel keeps it up to date). */
  readonly commentCounts = signal<Record<string, number>>({})
  readonly presence = signal<Presence[]>([])
  readonly wsConnected = signal(false)
  readonly synced = signal(false)
  readonly localLoaded = signal(false)
  /** The server said this connection is read-only (`[2,0,"read-only"]`). */
  readonly deniedWrite = signal(false)
  private lastLocalChange = signal(0)
  private tick = signal(0)

  /** Whether this person may edit the live text now. */
  readonly editable = computed(() => {
    const record = this.record.value
    return !!record && record.text_open && this.user.role !== 'observer'
  })

  readonly connection = computed<ConnectionState>(() => {
    this.tick.value
    if (!this.wsConnected.value) return this.synced.value || this.localLoaded.value ? 'offline' : 'connecting'
    if (!this.synced.value) return 'syncing'
    const saved = this.feed.saved.value
    if (this.lastLocalChange.value > this.feed.savedAt) return 'saving'
    if (saved && !savedCovers(saved, Y.encodeStateVector(this.ydoc))) return 'saving'
    return 'saved'
  })

  constructor(
    readonly id: string,
    readonly user: MemberView,
  ) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
    this.local = new IndexeddbPersistence(`manifesto:${user.id}:${id}`, this.ydoc)
    this.local.whenSynced.then(() => (this.localLoaded.value = true))
    this.provider = new WebsocketProvider(`${scheme}://${location.host}/ws`, encodeURIComponent(id), this.ydoc, {
      connect: false,
      disableBc: true,
    })
    this.feed = new EventFeed(`/api/documents/${encodeURIComponent(id)}/events`)
    const awareness = this.provider.awareness
    awareness.setLocalStateField('user', { name: user.name, color: colourFor(user.id), colorLight: colourFor(user.id, true) })
    this.provider.on('status', ({ status }: { status: string }) => {
      this.wsConnected.value = status === 'connected'
      if (status !== 'connected') this.synced.value = false
    })
    this.provider.on('sync', (synced: boolean) => (this.synced.value = synced))
    this.ydoc.on('update', (_update: Uint8Array, origin: unknown) => {
      if (origin !== this.provider && origin !== this.local) this.lastLocalChange.value = Date.now()
    })
    awareness.on('change', () => this.refreshPresence())
    this.refreshPresence()
    this.feed.on(['phase.', 'deadline.', 'document.'], () => void this.reload())
    // The stream ends with the credential: find out whether the session is over (the app
    // then asks to log in again, over the page) rather than retry in silence.
    this.feed.onError = () => void api('GET', '/api/session').catch(() => {})
  }

  start() {
    void this.reload()
    this.feed.start()
    this.provider.connect()
    // A dropped network: stop at once rather than wait for y-websocket's 30 s silence check;
    // edits go on locally (and into IndexedDB) and are sent when the network is back.
    const offline = () => this.provider.disconnect()
    const online = () => {
      this.provider.connect()
      void this.reload()
    }
    window.addEventListener('offline', offline)
    window.addEventListener('online', online)
    this.stopNetwork = () => {
      window.removeEventListener('offline', offline)
      window.removeEventListener('online', online)
    }
    // "Saving…" turns to "saved" when a `saved` event arrives; a timer re-evaluates in case
    // one arrived just before the change was recorded.
    const timer = setInterval(() => (this.tick.value = this.tick.value + 1), 1000)
    this.stopTimer = () => clearInterval(timer)
  }

  private stopTimer = () => {}
  private stopNetwork = () => {}

  async reload() {
    try {
      this.record.value = await api<DocumentView>('GET', `/api/documents/${encodeURIComponent(this.id)}`)
      this.loadError.value = null
    } catch (error) {
      this.loadError.value = error
    }
  }

  private refreshPresence() {
    const own = this.ydoc.clientID
    const people: Presence[] = []
    this.provider.awareness.getStates().forEach((state, clientId) => {
      const user = state.user as { name?: string; color?: string } | undefined
      if (!user?.name) return
      people.push({ clientId, name: user.name, colour: user.color ?? '#555', self: clientId === own })
    })
    people.sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name))
    this.presence.value = people
  }

  destroy() {
    this.stopTimer()
    this.stopNetwork()
    this.feed.stop()
    this.provider.destroy()
    void this.local.destroy()
    this.ydoc.destroy()
  }
}
