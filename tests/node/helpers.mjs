// Helpers for the Node interoperability test: run the real `manifesto` binary, connect the
// unmodified `y-websocket` client to it, and poll (never sleep) for conditions.

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
 * A running `manifesto serve` on 127.0.0.1 with a free port.
 * `stderr` accumulates the server's log, for failure reports.
 */
export class Server {
  constructor (child, port, dataDir) {
    this.child = child
    this.port = port
    this.dataDir = dataDir
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

  /** Starts the server on `dataDir` and resolves once it printed its listening line. */
  static async start (dataDir) {
    const bin = serverBinary()
    const child = spawn(bin, [
      'serve',
      '--listen', '127.0.0.1:0',
      '--data', dataDir,
      '--durability', 'process-crash'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    child.once('exit', () => running.delete(child))
    let stderr = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk) => { stderr += chunk })
    const port = await new Promise((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout })
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
    const server = new Server(child, port, dataDir)
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
 * from the server, through listeners on the provider's own socket (the client is unmodified).
 */
export class Clients {
  constructor () {
    /** @type {Array<{ provider: WebsocketProvider, doc: Y.Doc }>} */
    this.all = []
    /** Message types received from the server, per provider name. */
    this.receivedTypes = new Map()
  }

  /**
   * A new Y.Doc with a vanilla WebsocketProvider on `serverUrl`/`room`.
   * BroadcastChannel is disabled: Node has one, and providers in the same process would
   * otherwise sync through it instead of through the server under test.
   */
  connect (serverUrl, room, name, opts = {}) {
    const doc = new Y.Doc()
    const types = []
    this.receivedTypes.set(name, types)
    const provider = new WebsocketProvider(serverUrl, room, doc, {
      WebSocketPolyfill: WebSocket,
      disableBc: true,
      ...opts
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
  return waitFor(() => provider.synced, timeoutMs, `${provider.name ?? 'provider'} to sync with ${provider.url}`)
}

export { Y, WebsocketProvider, WebSocket }
