// Interoperability of the Manifesto server with the UNMODIFIED npm packages `yjs` and
// `y-websocket` (client `WebsocketProvider`, with `ws` as the WebSocket implementation).
//
// Run: npm ci && MANIFESTO_BIN=/path/to/manifesto npm test
//
// The tests run in order and share one server (and its data directory): test 2 restarts the
// server on the data written in test 1.

import { describe, before, after, afterEach, test } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import { Server, Clients, waitFor, waitSynced, makeDataDir, removeDir, serverBinary, Y } from './helpers.mjs'

const TEST_TIMEOUT_MS = 15_000
// The client drops remote awareness states only after 30 s without an update
// (y-protocols `outdatedTimeout`); a removal within this bound must come from the server.
const AWARENESS_REMOVAL_BOUND_MS = 5_000

/** Plain description of a document's shared types, for equality checks and failure messages. */
function contents (doc) {
  const fragment = doc.getXmlFragment('prosemirror')
  return {
    text: doc.getText('t').toString(),
    fragment: fragment.toString(),
    fragmentJSON: fragment.toJSON(),
    paragraphs: fragment.toArray().map((el) => ({
      name: el.nodeName,
      attributes: el.getAttributes(),
      deltas: el.toArray().map((child) => child.toDelta())
    }))
  }
}

/** A `paragraph` element holding one XmlText made of `[text, attributes]` pieces. */
function paragraph (pieces, attributes = {}) {
  const p = new Y.XmlElement('paragraph')
  for (const [k, v] of Object.entries(attributes)) p.setAttribute(k, v)
  const t = new Y.XmlText()
  let at = 0
  for (const [s, attrs] of pieces) {
    t.insert(at, s, attrs)
    at += s.length
  }
  p.insert(0, [t])
  return p
}

describe('Manifesto server ⟷ yjs / y-websocket (unmodified npm packages)', { concurrency: false }, () => {
  let dataDir
  let server
  const clients = new Clients()
  /** console.error / console.warn calls made while the tests ran. */
  const logged = []
  const original = { error: console.error, warn: console.warn }
  let echo = true // whether captured messages are also printed
  /** What the first two providers converged on in test 1, for test 2. */
  let coedited = null

  const serverLog = () => `\n--- server stderr (tail) ---\n${server ? server.tail() : '(no server)'}`

  before(async () => {
    serverBinary() // fails with a clear message if MANIFESTO_BIN is unset or wrong
    for (const level of ['error', 'warn']) {
      console[level] = (...args) => {
        logged.push({ level, message: util.format(...args) })
        if (echo) original[level](...args)
      }
    }
    dataDir = makeDataDir()
    server = await Server.start(dataDir)
  })

  afterEach(() => clients.destroyAll())

  after(async () => {
    clients.destroyAll()
    console.error = original.error
    console.warn = original.warn
    try {
      if (server) await server.stop()
    } finally {
      removeDir(dataDir)
    }
  })

  test('1. two providers co-edit a Y.Text and a Y.XmlFragment concurrently and converge', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: both docs end with identical Text and XmlFragment (toString/toJSON/deltas),
    // holding both people's edits, with the bold formatting intact.
    const room = 'interop-coedit'
    const a = clients.connect(server.wsUrl, room, 'A1')
    const b = clients.connect(server.wsUrl, room, 'B1')
    await waitSynced(a.provider)
    await waitSynced(b.provider)

    const ta = a.doc.getText('t')
    const tb = b.doc.getText('t')
    // Concurrent: both insert at index 0 in the same tick, before either can see the other.
    ta.insert(0, 'Alice wrote this.')
    tb.insert(0, 'Bob wrote that.')
    const bothOrders = ['Alice wrote this.Bob wrote that.', 'Bob wrote that.Alice wrote this.']
    await waitFor(() => ta.toString() === tb.toString() && ta.length === bothOrders[0].length, 5000,
      () => `Text convergence: A=${JSON.stringify(ta.toString())} B=${JSON.stringify(tb.toString())}${serverLog()}`)
    const merged = ta.toString()
    assert.ok(bothOrders.includes(merged), `unexpected merge ${JSON.stringify(merged)}`)

    // More edits, again concurrent: A appends, B prepends and deletes nothing of A's.
    ta.insert(ta.length, ' (A, later)')
    tb.insert(0, '> ')
    const expectedText = '> ' + merged + ' (A, later)'
    await waitFor(() => ta.toString() === expectedText && tb.toString() === expectedText, 5000,
      () => `Text after more edits: A=${JSON.stringify(ta.toString())} B=${JSON.stringify(tb.toString())}${serverLog()}`)

    // XmlFragment, as y-prosemirror stores it: paragraphs holding formatted XmlText.
    const fa = a.doc.getXmlFragment('prosemirror')
    const fb = b.doc.getXmlFragment('prosemirror')
    fa.insert(0, [paragraph([['Alice says ', {}], ['hello', { bold: true }]], { align: 'left' })])
    fb.insert(0, [paragraph([['Bob says ', {}], ['goodbye', { bold: true }]])])
    await waitFor(() => fa.length === 2 && fb.length === 2 && fa.toString() === fb.toString(), 5000,
      () => `XmlFragment convergence: A=${fa.toString()} B=${fb.toString()}${serverLog()}`)

    // B bolds the word "Alice" in Alice's paragraph; A appends to Bob's paragraph, concurrently.
    const aliceIndex = fb.toArray().findIndex((p) => p.toString().includes('Alice'))
    const bobIndexInA = fa.toArray().findIndex((p) => p.toString().includes('Bob'))
    assert.notEqual(aliceIndex, -1)
    assert.notEqual(bobIndexInA, -1)
    fb.get(aliceIndex).get(0).format(0, 5, { bold: true })
    const bobTextInA = fa.get(bobIndexInA).get(0)
    bobTextInA.insert(bobTextInA.length, '!', {})

    const aliceDelta = [
      { insert: 'Alice', attributes: { bold: true } },
      { insert: ' says ' },
      { insert: 'hello', attributes: { bold: true } }
    ]
    const bobDelta = [
      { insert: 'Bob says ' },
      { insert: 'goodbye', attributes: { bold: true } },
      { insert: '!' }
    ]
    const alice = { name: 'paragraph', attributes: { align: 'left' }, deltas: [aliceDelta] }
    const bob = { name: 'paragraph', attributes: {}, deltas: [bobDelta] }
    const isDone = (doc) => {
      const ps = contents(doc).paragraphs
      return util.isDeepStrictEqual(ps, [alice, bob]) || util.isDeepStrictEqual(ps, [bob, alice])
    }
    await waitFor(() => isDone(a.doc) && isDone(b.doc), 5000,
      () => `formatted XmlFragment: A=${fa.toString()} B=${fb.toString()}${serverLog()}`)

    const ca = contents(a.doc)
    const cb = contents(b.doc)
    assert.deepEqual(cb, ca, 'both providers hold the same content')
    assert.equal(ca.text, expectedText)
    assert.ok(ca.fragment.includes('<paragraph align="left"><bold>Alice</bold> says <bold>hello</bold></paragraph>'), ca.fragment)
    assert.ok(ca.fragment.includes('<paragraph>Bob says <bold>goodbye</bold>!</paragraph>'), ca.fragment)
    assert.equal(ca.fragmentJSON, ca.fragment)
    coedited = { room, contents: ca }
  })

  test('2. after SIGTERM and a restart on the same data dir, a new provider sees everything', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: exit code 0 on SIGTERM; after restart a third provider's Text and XmlFragment
    // equal exactly what the first two converged on in test 1.
    assert.ok(coedited, 'test 1 must have passed first')
    clients.destroyAll()
    const { code, signal } = await server.stop()
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `server exit on SIGTERM${serverLog()}`)

    const oldPort = server.port
    server = await Server.start(dataDir)
    assert.ok(Number.isInteger(server.port) && server.port > 0, `bad port ${server.port} (was ${oldPort})`)

    const c = clients.connect(server.wsUrl, coedited.room, 'C2')
    await waitSynced(c.provider)
    // Synced means SyncStep2 from the server was applied: everything must be there already.
    assert.deepEqual(contents(c.doc), coedited.contents, `content after restart${serverLog()}`)
  })

  test('3. awareness states are relayed, and removed within 5 s when a client leaves', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // Expect: B sees {user:{name:'Alice'}} for A's clientID; A keeps its own state; after A is
    // destroyed (and after a client whose socket drops without a goodbye), B no longer has the
    // state within 5 s, well before the client-side 30 s timeout.
    const room = 'interop-awareness'
    const a = clients.connect(server.wsUrl, room, 'A3')
    await waitSynced(a.provider)
    a.provider.awareness.setLocalStateField('user', { name: 'Alice' })
    const b = clients.connect(server.wsUrl, room, 'B3')
    await waitSynced(b.provider)
    const aId = a.doc.clientID
    const bId = b.doc.clientID
    const statesOf = (p) => JSON.stringify(Object.fromEntries(p.awareness.getStates()))

    await waitFor(() => b.provider.awareness.getStates().get(aId)?.user?.name === 'Alice', 5000,
      () => `B to see Alice: B's states ${statesOf(b.provider)}${serverLog()}`)
    assert.deepEqual(b.provider.awareness.getStates().get(aId), { user: { name: 'Alice' } })
    assert.deepEqual(a.provider.awareness.getLocalState(), { user: { name: 'Alice' } })
    assert.deepEqual(a.provider.awareness.getStates().get(aId), { user: { name: 'Alice' } })
    // B's state reaches A too. (B's initial empty state has clock 0, which y-protocols ignores
    // for an unknown client whatever the server does, so B sets a state of its own.)
    b.provider.awareness.setLocalStateField('user', { name: 'Bob' })
    await waitFor(() => a.provider.awareness.getStates().get(bId)?.user?.name === 'Bob', 5000,
      () => `A to see Bob: A's states ${statesOf(a.provider)}${serverLog()}`)
    assert.deepEqual(a.provider.awareness.getStates().get(bId), { user: { name: 'Bob' } })

    // An update of the state is relayed as well.
    a.provider.awareness.setLocalStateField('user', { name: 'Alice', cursor: 7 })
    await waitFor(() => b.provider.awareness.getStates().get(aId)?.user?.cursor === 7, 5000,
      () => `B to see Alice's cursor: ${statesOf(b.provider)}`)
    assert.deepEqual(b.provider.awareness.getStates().get(aId), { user: { name: 'Alice', cursor: 7 } })

    // A leaves the normal way.
    let started = Date.now()
    clients.destroy(a.provider)
    await waitFor(() => !b.provider.awareness.getStates().has(aId), AWARENESS_REMOVAL_BOUND_MS,
      () => `B to drop A's awareness after A.destroy(): B's states ${statesOf(b.provider)}${serverLog()}`)
    const afterDestroyMs = Date.now() - started

    // C's socket is cut without the client's goodbye (no null awareness state is sent):
    // only the server can tell B that C is gone.
    const c = clients.connect(server.wsUrl, room, 'C3')
    await waitSynced(c.provider)
    c.provider.awareness.setLocalStateField('user', { name: 'Carol' })
    const cId = c.doc.clientID
    await waitFor(() => b.provider.awareness.getStates().get(cId)?.user?.name === 'Carol', 5000,
      () => `B to see Carol: ${statesOf(b.provider)}${serverLog()}`)
    started = Date.now()
    c.provider.ws.terminate() // readyState becomes CLOSING at once, so nothing more is sent...
    c.provider.disconnect() // ...and this only stops the provider from reconnecting
    await waitFor(() => !b.provider.awareness.getStates().has(cId), AWARENESS_REMOVAL_BOUND_MS,
      () => `B to drop Carol's awareness after her socket dropped: ${statesOf(b.provider)}${serverLog()}`)
    const afterDropMs = Date.now() - started
    assert.ok(afterDestroyMs < AWARENESS_REMOVAL_BOUND_MS && afterDropMs < AWARENESS_REMOVAL_BOUND_MS,
      `removals took ${afterDestroyMs} ms and ${afterDropMs} ms`)
    assert.deepEqual([...b.provider.awareness.getStates().keys()], [bId], 'only B itself is left')
    t.diagnostic(`awareness removal seen by B after ${afterDestroyMs} ms (destroy) and ${afterDropMs} ms (dropped socket)`)
  })

  test('4. edits made while one provider is offline merge once it reconnects', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: B disconnects, both edit, B reconnects; both end with 'A-online base B-offline'
    // and matching XmlFragments, and a fresh provider gets the same from the server.
    const room = 'interop-offline'
    const a = clients.connect(server.wsUrl, room, 'A4')
    const b = clients.connect(server.wsUrl, room, 'B4')
    await waitSynced(a.provider)
    await waitSynced(b.provider)
    const ta = a.doc.getText('t')
    const tb = b.doc.getText('t')
    ta.insert(0, 'base')
    await waitFor(() => tb.toString() === 'base', 5000, () => `B to get 'base', has ${JSON.stringify(tb.toString())}`)

    b.provider.disconnect()
    assert.equal(b.provider.wsconnected, false)
    tb.insert(tb.length, ' B-offline')
    b.doc.getXmlFragment('prosemirror').insert(0, [paragraph([['offline ', {}], ['B', { bold: true }]])])
    ta.insert(0, 'A-online ')
    a.doc.getXmlFragment('prosemirror').insert(0, [paragraph([['online A', {}]])])
    // Nothing crosses while B is offline (B's socket is gone, BroadcastChannel is disabled).
    assert.equal(tb.toString(), 'base B-offline')

    b.provider.connect()
    await waitSynced(b.provider)
    const expected = 'A-online base B-offline'
    await waitFor(() => ta.toString() === expected && tb.toString() === expected &&
      a.doc.getXmlFragment('prosemirror').length === 2 &&
      util.isDeepStrictEqual(contents(a.doc), contents(b.doc)), 5000,
    () => `convergence after reconnect: A=${JSON.stringify(contents(a.doc))} B=${JSON.stringify(contents(b.doc))}${serverLog()}`)
    const frag = contents(a.doc).fragment
    assert.ok(frag.includes('<paragraph>offline <bold>B</bold></paragraph>'), frag)
    assert.ok(frag.includes('<paragraph>online A</paragraph>'), frag)

    const c = clients.connect(server.wsUrl, room, 'C4')
    await waitSynced(c.provider)
    assert.deepEqual(contents(c.doc), contents(a.doc), 'the server holds the merged document')
  })

  test('5. the vanilla client never gets a message type it does not know', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: every frame received by every provider above starts with a message type the
    // y-websocket client handles (0 sync, 1 awareness, 2 auth, 3 query awareness), and
    // nothing like "Unable to compute message" / "unknown" was logged.
    const known = new Set([0, 1, 2, 3])
    const all = [...clients.receivedTypes.entries()]
    assert.ok(all.length >= 8, `providers recorded: ${all.map(([n]) => n)}`)
    const counts = {}
    for (const [name, types] of all) {
      assert.ok(types.length > 0, `${name} received no frame at all`)
      for (const t of types) {
        counts[t] = (counts[t] ?? 0) + 1
        assert.ok(known.has(t), `${name} received a frame of unknown message type ${t}`)
      }
    }
    assert.ok(counts[0] > 0 && counts[1] > 0, `expected sync and awareness frames, got ${JSON.stringify(counts)}`)
    const bad = logged.filter(({ message }) => /Unable to compute message|unknown/i.test(message))
    assert.deepEqual(bad, [], 'no unknown-message complaints')

    // Control: the capture does see the client's complaint for an unknown type.
    const p = clients.connect(server.wsUrl, 'interop-control', 'control5')
    await waitSynced(p.provider)
    const before = logged.length
    echo = false
    try {
      p.provider.ws.onmessage({ data: new Uint8Array([99]).buffer })
    } finally {
      echo = true
    }
    assert.ok(logged.slice(before).some(({ message }) => /Unable to compute message/.test(message)),
      'console.error capture works')
    logged.splice(before)
  })
})
