// Helpers for the Node interoperability test: run the real `manifesto` binary, create
// accounts and documents through its HTTP API, connect the unmodified `y-websocket` client
// to it with an API token, and poll (never sleep) for conditions.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const LISTENING_LINE = /^manifesto listening on http:\/\/(127\.0\.0\.1):(\d+)$/
const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

/**
 * The first secretariat account, which the server creates from `MANIFESTO_ADMIN_EMAIL` and
 * `MANIFESTO_ADMIN_PASSWORD` when it starts on an empty data directory (the password passes
 * the server's policy: at least 10 characters, not a common password).
 */
export const ADMIN = Object.freeze({
  email: 'secretariat@example.org',
  password: 'a sovereign and solidary future'
})

// Servers still running when this process exits (e.g. after an uncaught failure) are killed.
const running = new Set()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Path of the server binary, from `MANIFESTO_BIN`; throws a clear error if unusable. */
export function serverBinary () {
  const bin = process.env.MANIFESTO_BIN
  if (!bin) {
    throw new Error(
      'MANIFESTO_BIN is not set. Build the server and point MANIFESTO_BIN at it, e.g.\n' +
      '  CARGO_TARGET_DIR=$HOME/.cache/manifesto/target cargo build -p manifesto-server --bin manifesto\n' +
      '  MANIFESTO_BIN=$HOME/.cache/manifesto/target/debug/manifesto npm test'
    )
  }
  try {
    fs.accessSync(bin, fs.constants.X_OK)
  } catch (e) {
    throw new Error(`MANIFESTO_BIN=${bin} is missing or not executable (${e.code ?? e.message})`)
  }
  return bin
}

/** A fresh temporary data directory (removed by `removeDir`). */
export function makeDataDir () {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'manifesto-node-'))
}

export function removeDir (dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
}

/**
 * The server's environment: this process's, without any `MANIFESTO_*` setting of the caller's
 * (a `MANIFESTO_PUBLIC_URL`, say, would change which `Origin` the server accepts), plus the
 * first secretariat account.
 */
function serverEnv () {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MANIFESTO_')))
  return { ...env, MANIFESTO_ADMIN_EMAIL: ADMIN.email, MANIFESTO_ADMIN_PASSWORD: ADMIN.password }
}

/**
 * A running `manifesto serve` on 127.0.0.1 with a free port.
 * `stderr` accumulates the server's log, for failure reports; `stdout` the lines it printed
 * (the listening line, then the first-account notice on a new data directory).
 */
export class Server {
  constructor (child, port, dataDir, stdout) {
    this.child = child
    this.port = port
    this.dataDir = dataDir
    this.stdout = stdout
    this.stderr = ''
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve({ code: child.exitCode, signal: child.signalCode })
      } else {
        child.once('exit', (code, signal) => resolve({ code, signal }))
      }
    })
  }

  get wsUrl () {
    return `ws://127.0.0.1:${this.port}/ws`
  }

  /** The server's own origin: what a browser on this site sends as `Origin`. */
  get origin () {
    return `http://127.0.0.1:${this.port}`
  }

  /**
   * Starts the server on `dataDir` and resolves once it printed its listening line. On an
   * empty data directory the server creates the `ADMIN` secretariat account. `args` are more
   * `manifesto serve` options (the browser tests pass `--client-dir` and `--demo`).
   */
  static async start (dataDir, { args = [] } = {}) {
    const bin = serverBinary()
    const child = spawn(bin, [
      'serve',
      '--listen', '127.0.0.1:0',
      '--data', dataDir,
      '--durability', 'process-crash',
      ...args
    ], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: serverEnv()
    })
    running.add(child)
    child.once('exit', () => running.delete(child))
    let stderr = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => { stderr += chunk })
    // Every stdout line is read and kept for the whole life of the process, so that the pipe
    // never fills up and blocks the server on a later line.
    const stdout = []
    const lines = readline.createInterface({ input: child.stdout })
    lines.on('line', (line) => stdout.push(line))
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`server did not print its listening line within ${START_TIMEOUT_MS} ms; stderr:\n${stderr}`))
      }, START_TIMEOUT_MS)
      const onExit = (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`server exited before listening (code ${code}, signal ${signal}); stderr:\n${stderr}`))
      }
      child.once('exit', onExit)
      child.once('error', (e) => { clearTimeout(timer); reject(e) })
      lines.once('line', (line) => {
        clearTimeout(timer)
        child.off('exit', onExit)
        const m = LISTENING_LINE.exec(line)
        if (m) resolve(Number(m[2]))
        else {
          child.kill('SIGKILL')
          reject(new Error(`unexpected first stdout line from server: ${JSON.stringify(line)}`))
        }
      })
    })
    const server = new Server(child, port, dataDir, stdout)
    server.stderr = stderr
    child.stderr.on('data', (chunk) => { server.stderr += chunk })
    return server
  }

  /** Sends SIGTERM and waits for the exit; returns `{ code, signal }`. */
  async stop () {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM')
    }
    let timer
    const timeout = new Promise((_resolve, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        reject(new Error(`server did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM; stderr:\n${this.stderr}`))
      }, STOP_TIMEOUT_MS)
    })
    try {
      return await Promise.race([this.exit, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Last `n` lines of the server log, to attach to assertion messages. */
  tail (n = 30) {
    return this.stderr.split('\n').slice(-n).join('\n')
  }
}

/**
 * Sends a request to the server's JSON API as a page of the server's own site would: with
 * the session `cookie` if given, this site's `Origin` and, with a body,
 * `Content-Type: application/json`. (The server refuses a state-changing request that is not
 * authenticated by a bearer token unless it has both: its CSRF rule.) Resolves to
 * `{ status, headers, body }`, `body` parsed as JSON when it is JSON. Throws, with the
 * server's answer, if `expect` is given and the status differs.
 */
export async function api (server, method, path, { body, cookie, expect } = {}) {
  const headers = { Origin: server.origin }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (cookie) headers.Cookie = cookie
  const res = await fetch(server.origin + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  let parsed = text
  try { parsed = JSON.parse(text) } catch {}
  if (expect !== undefined && res.status !== expect) {
    throw new Error(`${method} ${path}: expected HTTP ${expect}, got ${res.status} ${text}` +
      `\n--- server stderr (tail) ---\n${server.tail()}`)
  }
  return { status: res.status, headers: res.headers, body: parsed }
}

/**
 * Creates the document `id` (its live path is `/ws/<id>`: the server refuses an upgrade to a
 * document that does not exist with 404 `document_not_found`), as the secretariat: with the
 * session `cookie` given, or else as the `ADMIN` account, logged in once per `Server`. `title`
 * defaults to the id; `startWith` is 'empty' (default), 'template' or 'markdown' (then with
 * `markdown`, the draft to import). Resolves to the document as the server describes it;
 * throws with the server's answer unless it is 201 Created.
 */
export async function createDocument (server, id, { title = id, startWith = 'empty', markdown, cookie } = {}) {
  const body = { id, title, start_with: startWith, ...(markdown === undefined ? {} : { markdown }) }
  const res = await api(server, 'POST', '/api/documents', {
    body,
    cookie: cookie ?? await adminSession(server),
    expect: 201
  })
  if (res.body?.id !== id) {
    throw new Error(`POST /api/documents ${id}: the server answered ${JSON.stringify(res.body)}`)
  }
  return res.body
}

/**
 * Moves the document `id` to `phase` ('drafting', 'amendments', …) as the secretariat (the
 * session `cookie` given, or else the `ADMIN` account), with `reason` if given (the server
 * requires one to go back). Resolves to `{ status, body }`, the document as the server then
 * describes it on success; throws with the server's answer unless the status is `expect`.
 */
export async function setPhase (server, id, phase, { reason, cookie, expect = 200 } = {}) {
  return api(server, 'POST', `/api/documents/${encodeURIComponent(id)}/phase`, {
    body: { phase, ...(reason === undefined ? {} : { reason }) },
    cookie: cookie ?? await adminSession(server),
    expect
  })
}

/** The document `id` as the server describes it (`GET /api/documents/{id}`), as the `ADMIN`. */
export async function getDocument (server, id, { cookie } = {}) {
  const res = await api(server, 'GET', `/api/documents/${encodeURIComponent(id)}`, {
    cookie: cookie ?? await adminSession(server),
    expect: 200
  })
  return res.body
}

/**
 * The structured text the server holds for the document `id` (`GET /api/documents/{id}/text`,
 * as the `ADMIN`): `{ view, paragraphs }`, `view` the server's answer and `paragraphs` a Map
 * from each paragraph's id to its plain text (its spans joined, marks dropped).
 */
export async function storedText (server, id, { cookie } = {}) {
  const res = await api(server, 'GET', `/api/documents/${encodeURIComponent(id)}/text`, {
    cookie: cookie ?? await adminSession(server),
    expect: 200
  })
  const view = res.body
  const paragraphs = new Map()
  for (const section of view?.sections ?? []) {
    for (const p of section.paragraphs ?? []) {
      paragraphs.set(p.id, (p.text ?? []).map((span) => span.text).join(''))
    }
  }
  return { view, paragraphs }
}

/** Per `Server`: a promise of the `ADMIN` account's session cookie. */
const adminSessions = new WeakMap()

/** The `ADMIN` account's session cookie on `server`, logged in on first use. */
function adminSession (server) {
  let session = adminSessions.get(server)
  if (!session) {
    session = login(server, ADMIN.email, ADMIN.password)
    // A failed login is not kept: the next call tries again.
    session.catch(() => adminSessions.delete(server))
    adminSessions.set(server, session)
  }
  return session
}

/** The `manifesto_session=...` pair (what a `Cookie` header carries) set by `res`. */
function sessionCookie (res, what) {
  const setCookies = res.headers.getSetCookie()
  const cookie = setCookies.map((c) => c.split(';')[0].trim()).find((c) => c.startsWith('manifesto_session='))
  if (!cookie) throw new Error(`${what}: no manifesto_session cookie in Set-Cookie ${JSON.stringify(setCookies)}`)
  return cookie
}

/** Logs in; returns the session cookie (`manifesto_session=...`) for later requests. */
export async function login (server, email, password) {
  const res = await api(server, 'POST', '/api/session', { body: { email, password }, expect: 200 })
  return sessionCookie(res, `login as ${email}`)
}

/**
 * Creates a personal API token for the account logged in with `cookie`; returns its secret,
 * which the WebSocket accepts as `?token=` (y-websocket's `params: { token }`).
 */
export async function createToken (server, cookie, name = 'node interop test') {
  const res = await api(server, 'POST', '/api/me/tokens', { body: { name }, cookie, expect: 201 })
  const secret = res.body?.secret
  if (typeof secret !== 'string' || secret === '') {
    throw new Error(`POST /api/me/tokens: no secret in ${JSON.stringify(res.body)}`)
  }
  return secret
}

/**
 * Invites `email` with `role` ('observer', 'delegate' or 'secretariat') and display `name`,
 * as the secretariat member logged in with `adminCookie`; returns the invitation's secret
 * (the fragment of the link the invitee receives).
 */
export async function invite (server, adminCookie, email, role, name) {
  const res = await api(server, 'POST', '/api/invitations', {
    body: { email, role, ...(name === undefined ? {} : { name }) },
    cookie: adminCookie,
    expect: 201
  })
  const link = String(res.body?.link ?? '')
  const prefix = `${server.origin}/invite#`
  if (!link.startsWith(prefix) || link.length === prefix.length) {
    throw new Error(`POST /api/invitations: link ${JSON.stringify(link)} is not ${prefix}<secret>`)
  }
  return link.slice(prefix.length)
}

/**
 * Accepts the invitation with `secret`, choosing `password` (and `name`, needed when the
 * invitation has none). Returns `{ user, cookie }`: the new account and its session cookie.
 */
export async function acceptInvitation (server, secret, password, name) {
  const res = await api(server, 'POST', '/api/invitations/accept', {
    body: { token: secret, password, ...(name === undefined ? {} : { name }) },
    expect: 201
  })
  return { user: res.body.user, cookie: sessionCookie(res, 'accepting an invitation') }
}

/**
 * A new account with `role` and display `name`, made the way people join (invited by the
 * secretariat, invitation accepted), with an API token for its WebSocket connections.
 * Returns `{ user, cookie, token }`.
 */
export async function createAccount (server, adminCookie, { email, role, name, password = 'a long interop passphrase' }) {
  const secret = await invite(server, adminCookie, email, role, name)
  const { user, cookie } = await acceptInvitation(server, secret, password)
  if (user?.role !== role || user?.name !== name) {
    throw new Error(`invited ${email} as ${role} named ${name}, got ${JSON.stringify(user)}`)
  }
  return { user, cookie, token: await createToken(server, cookie) }
}

/**
 * Attempts a WebSocket upgrade of `url` with extra request `headers`, using `ws` directly.
 * Resolves to `{ status: 101 }` if the server accepted (the socket is then closed), or to
 * `{ status, body }` with the refusal's status code and parsed JSON body.
 */
export function tryUpgrade (url, headers = {}, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`no answer to the upgrade of ${redactToken(url)} within ${timeoutMs} ms`))
    }, timeoutMs)
    ws.on('error', (e) => { clearTimeout(timer); reject(e) })
    ws.on('open', () => {
      clearTimeout(timer)
      ws.close()
      resolve({ status: 101 })
    })
    // With a listener for this event, `ws` leaves the refused handshake to us: read the body.
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { text += chunk })
      res.on('end', () => {
        clearTimeout(timer)
        let body = text
        try { body = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode, body })
        ws.removeAllListeners('error')
        ws.on('error', () => {}) // "closed before the connection was established": expected
        ws.terminate()
      })
    })
  })
}

/**
 * A raw `ws` connection to `url` (no Yjs client behind it) that keeps every frame it
 * receives as a Uint8Array in `frames`, to check the exact bytes the server sends.
 * Resolves to `{ ws, frames, errors }` once the socket is open.
 */
export async function openRawSocket (url, timeoutMs = 5000) {
  const ws = new WebSocket(url)
  const frames = []
  const errors = []
  ws.on('message', (data) => frames.push(new Uint8Array(data)))
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`raw socket to ${redactToken(url)} not open within ${timeoutMs} ms`))
    }, timeoutMs)
    ws.once('open', () => { clearTimeout(timer); resolve() })
    ws.once('error', (e) => { clearTimeout(timer); reject(e) })
  })
  // Kept after the opening, so that a later socket error is recorded, not thrown.
  ws.on('error', (e) => errors.push(e))
  return { ws, frames, errors }
}

/** `n` as a lib0 / y-protocols variable-length unsigned integer. */
export function varUint (n) {
  const out = []
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A y-websocket sync frame carrying `update`: messageSync (0), messageYjsUpdate (2), bytes. */
export function updateFrame (update) {
  return Uint8Array.from([0, 2, ...varUint(update.length), ...update])
}

/** `url` with its `token` query parameter hidden, for messages. */
export function redactToken (url) {
  return String(url).replace(/([?&]token=)[^&]*/g, '$1…')
}

/**
 * Polls `predicate` (sync or async) every `intervalMs` until it returns truthy, or throws after
 * `timeoutMs`. `describe` (a string or function) explains the failure.
 */
export async function waitFor (predicate, timeoutMs = 5000, describe = 'condition', intervalMs = 10) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let last
    try {
      if (await predicate()) return
    } catch (e) {
      last = e
    }
    if (Date.now() >= deadline) {
      const what = typeof describe === 'function' ? describe() : describe
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (last ? ` (last error: ${last.message})` : ''))
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/**
 * Tracks providers and docs so that they are all destroyed, even when a test fails.
 * Each provider also records the message type (first varuint byte) of every frame received
 * from the server, through listeners on the provider's own socket (the client is unmodified),
 * and every close of its socket with a close code from the server.
 */
export class Clients {
  constructor () {
    /** @type {Array<{ provider: WebsocketProvider, doc: Y.Doc }>} */
    this.all = []
    /** Message types received from the server, per provider name. */
    this.receivedTypes = new Map()
    /**
     * `{ name, code, reason }` of each socket the server closed. The provider reconnects by
     * itself, so such a close could otherwise pass unnoticed (or show up as a missing awareness
     * state: the provider drops every remote state when its socket closes). 1006 is left out:
     * it is what a socket we cut ourselves reports.
     */
    this.serverCloses = []
  }

  /** The server closes recorded since the last call. */
  takeServerCloses () {
    return this.serverCloses.splice(0)
  }

  /**
   * A new Y.Doc with a vanilla WebsocketProvider on `serverUrl`/`room`, authenticated by the
   * API token `token` (the connection gets that account's role and name).
   * BroadcastChannel is disabled: Node has one, and providers in the same process would
   * otherwise sync through it instead of through the server under test.
   */
  connect (serverUrl, room, name, { token, ...opts } = {}) {
    if (!token) throw new Error(`provider ${name}: the server refuses anonymous connections; pass { token }`)
    const doc = new Y.Doc()
    const types = []
    this.receivedTypes.set(name, types)
    const provider = new WebsocketProvider(serverUrl, room, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
      ...opts,
      // y-websocket puts `params` in the query string: `/ws/<room>?token=<secret>`.
      params: { ...opts.params, token }
    })
    const watch = (ws) => {
      ws.addEventListener('message', (event) => {
        const bytes = new Uint8Array(event.data)
        types.push(bytes.length > 0 ? bytes[0] : -1)
      })
    }
    if (provider.ws) watch(provider.ws)
    // `status: connecting` is emitted right after each new socket is assigned to `provider.ws`.
    provider.on('status', ({ status }) => {
      if (status === 'connecting' && provider.ws) watch(provider.ws)
    })
    // `event` is null when the provider closed the socket itself (disconnect, destroy).
    provider.on('connection-close', (event) => {
      if (event && event.code !== 1006) this.serverCloses.push({ name, code: event.code, reason: event.reason })
    })
    provider.name = name
    this.all.push({ provider, doc })
    return { provider, doc }
  }

  destroy (provider) {
    const i = this.all.findIndex((c) => c.provider === provider)
    if (i < 0) return
    const [{ doc }] = this.all.splice(i, 1)
    provider.destroy()
    doc.destroy() // also destroys the awareness, stopping its timers
  }

  destroyAll () {
    for (const { provider } of [...this.all]) {
      try { this.destroy(provider) } catch {}
    }
  }
}

/** Resolves once `provider.synced` is true (polling, with a deadline). */
export function waitSynced (provider, timeoutMs = 5000) {
  return waitFor(() => provider.synced, timeoutMs, `${provider.name ?? 'provider'} to sync with ${redactToken(provider.url)}`)
}

export { Y, WebsocketProvider, WebSocket }
