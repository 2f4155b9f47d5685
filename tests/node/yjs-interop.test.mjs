// Interoperability of the Manifesto server with the UNMODIFIED npm packages `yjs` and
// `y-websocket` (client `WebsocketProvider`, with `ws` as the WebSocket implementation).
//
// Run: npm ci && MANIFESTO_BIN=/path/to/manifesto npm test
//
// The tests run in order and share one server (and its data directory): test 2 restarts the
// server on the data written in test 1, test 6 on the data written in test 6, test 9 on the
// data written in test 9.
//
// The server only accepts authenticated connections. `before` logs in as the first
// secretariat account (created from MANIFESTO_ADMIN_* on the empty data directory), invites
// three delegates and an observer the way people join, and gives each an API token; every
// provider connects with one (`?token=`, y-websocket's `params`).
//
// Documents are records: the server refuses an upgrade to a document that does not exist
// (404 `document_not_found`), so each test first creates its documents as the secretariat
// (`createDocument`, empty unless it says otherwise), and test 8 checks that refusal.

import { describe, before, after, afterEach, test } from 'node:test'
import assert from 'node:assert/strict'
import util from 'node:util'
import {
  Server, Clients, waitFor, waitSynced, makeDataDir, removeDir, serverBinary, Y, WebSocket,
  ADMIN, login, createAccount, createDocument, tryUpgrade, openRawSocket, updateFrame, varUint,
  redactToken, setPhase, getDocument, storedText
} from './helpers.mjs'

const TEST_TIMEOUT_MS = 15_000
// The client drops remote awareness states only after 30 s without an update
// (y-protocols `outdatedTimeout`); a removal within this bound must come from the server.
const AWARENESS_REMOVAL_BOUND_MS = 5_000
// How long another client is watched for an edit that must never reach it.
const NEVER_SEEN_WINDOW_MS = 1_000

/**
 * A block id the server gives each heading and paragraph of the `prosemirror` fragment
 * (ARCHITECTURE.md, "Text structure"): `s-` or `p-` and 10 lowercase base32 characters.
 */
const BLOCK_ID = /^[sp]-[a-z2-7]{10}$/

/** `xml` without the server's ` id="…"` block attributes. */
function withoutIds (xml) {
  return xml.replace(/ id="[^"]*"/g, '')
}

/**
 * Plain description of a document's shared types, for equality checks and failure messages.
 * The server writes an `id` attribute into every top-level block of the `prosemirror`
 * fragment; `fragment`, `fragmentJSON` and `paragraphs` leave it out, so that they show what
 * the clients wrote, and `ids` lists the blocks' ids in order (null for a block without one).
 */
function contents (doc) {
  const fragment = doc.getXmlFragment('prosemirror')
  return {
    text: doc.getText('t').toString(),
    fragment: withoutIds(fragment.toString()),
    fragmentJSON: withoutIds(fragment.toJSON()),
    paragraphs: fragment.toArray().map((el) => {
      const { id: _id, ...attributes } = el.getAttributes()
      return {
        name: el.nodeName,
        attributes,
        deltas: el.toArray().map((child) => child.toDelta())
      }
    }),
    ids: fragment.toArray().map((el) => el.getAttribute('id') ?? null)
  }
}

/** Whether every block of `doc`'s `prosemirror` fragment has a well-formed id, none twice. */
function hasBlockIds (doc) {
  const { ids } = contents(doc)
  return ids.every((id) => id !== null && BLOCK_ID.test(id)) && new Set(ids).size === ids.length
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
  /** Accounts made in `before`: `{ user, cookie, token }` each. */
  let alice, bob, carol, olga
  const PASSWORD = 'a long interop passphrase'

  const serverLog = () => (clients.serverCloses.length === 0 ? '' : `\nsockets closed by the server: ${JSON.stringify(clients.serverCloses)}`) +
    `\n--- server stderr (tail) ---\n${server ? server.tail() : '(no server)'}`

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
    const adminCookie = await login(server, ADMIN.email, ADMIN.password)
    const account = (name, role) => createAccount(server, adminCookie, {
      email: `${name.toLowerCase()}@example.org`, role, name, password: PASSWORD
    })
    alice = await account('Alice', 'delegate')
    bob = await account('Bob', 'delegate')
    carol = await account('Carol', 'delegate')
    olga = await account('Olga', 'observer')
  })

  afterEach(() => {
    clients.destroyAll()
    // No test expects the server to close a provider's socket: a vanilla client must never
    // be cut off for doing what y-websocket normally does.
    try {
      assert.deepEqual(clients.serverCloses, [], `no socket closed by the server${serverLog()}`)
    } finally {
      clients.takeServerCloses() // reported once, in the test where it happened
    }
  })

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
    // holding both people's edits, with the bold formatting intact, and the same paragraph
    // ids, which the server added (two distinct, well-formed ones).
    const room = 'interop-coedit'
    await createDocument(server, room, { title: 'Interop: co-editing' })
    const a = clients.connect(server.wsUrl, room, 'A1', { token: alice.token })
    const b = clients.connect(server.wsUrl, room, 'B1', { token: bob.token })
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
    const aliceParagraph = { name: 'paragraph', attributes: { align: 'left' }, deltas: [aliceDelta] }
    const bobParagraph = { name: 'paragraph', attributes: {}, deltas: [bobDelta] }
    const isDone = (doc) => {
      const ps = contents(doc).paragraphs
      return util.isDeepStrictEqual(ps, [aliceParagraph, bobParagraph]) || util.isDeepStrictEqual(ps, [bobParagraph, aliceParagraph])
    }
    // The server gives each paragraph its id; both providers get the same ones.
    const sameIds = () => hasBlockIds(a.doc) && util.isDeepStrictEqual(contents(a.doc).ids, contents(b.doc).ids)
    await waitFor(() => isDone(a.doc) && isDone(b.doc) && sameIds(), 5000,
      () => `formatted XmlFragment: A=${fa.toString()} B=${fb.toString()}${serverLog()}`)

    const ca = contents(a.doc)
    const cb = contents(b.doc)
    assert.deepEqual(cb, ca, 'both providers hold the same content')
    assert.equal(ca.text, expectedText)
    assert.ok(ca.fragment.includes('<paragraph align="left"><bold>Alice</bold> says <bold>hello</bold></paragraph>'), ca.fragment)
    assert.ok(ca.fragment.includes('<paragraph>Bob says <bold>goodbye</bold>!</paragraph>'), ca.fragment)
    assert.equal(ca.fragmentJSON, ca.fragment)
    assert.equal(ca.ids.length, 2, `block ids ${JSON.stringify(ca.ids)}`)
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

    // Carol's token was made before the restart: accounts and tokens are stored too, and so
    // is test 1's document record (an unknown document would be refused with 404).
    const c = clients.connect(server.wsUrl, coedited.room, 'C2', { token: carol.token })
    await waitSynced(c.provider)
    // Synced means SyncStep2 from the server was applied: everything must be there already.
    assert.deepEqual(contents(c.doc), coedited.contents, `content after restart${serverLog()}`)
  })

  test('3. awareness states are relayed, and removed within 5 s when a client leaves', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // Expect: B sees {user:{name:'Alice', id}} for A's clientID (the server sets `user.name`
    // to the account's display name and adds the account's `user.id`); A keeps its own state;
    // a client claiming another name is shown with its account's; after A is destroyed (and
    // after a client whose socket drops without a goodbye), B no longer has the state within
    // 5 s, well before the client-side 30 s timeout.
    const room = 'interop-awareness'
    await createDocument(server, room)
    const a = clients.connect(server.wsUrl, room, 'A3', { token: alice.token })
    await waitSynced(a.provider)
    a.provider.awareness.setLocalStateField('user', { name: 'Alice' })
    const b = clients.connect(server.wsUrl, room, 'B3', { token: bob.token })
    await waitSynced(b.provider)
    const aId = a.doc.clientID
    const bId = b.doc.clientID
    const statesOf = (p) => JSON.stringify(Object.fromEntries(p.awareness.getStates()))

    await waitFor(() => b.provider.awareness.getStates().get(aId)?.user?.name === 'Alice', 5000,
      () => `B to see Alice: B's states ${statesOf(b.provider)}${serverLog()}`)
    assert.deepEqual(b.provider.awareness.getStates().get(aId), { user: { name: 'Alice', id: alice.user.id } })
    // The server's copy comes back to A with A's own clock, which y-protocols ignores.
    assert.deepEqual(a.provider.awareness.getLocalState(), { user: { name: 'Alice' } })
    assert.deepEqual(a.provider.awareness.getStates().get(aId), { user: { name: 'Alice' } })
    // B's state reaches A too. (B's initial empty state has clock 0, which y-protocols ignores
    // for an unknown client whatever the server does, so B sets a state of its own.)
    b.provider.awareness.setLocalStateField('user', { name: 'Bob' })
    await waitFor(() => a.provider.awareness.getStates().get(bId)?.user?.name === 'Bob', 5000,
      () => `A to see Bob: A's states ${statesOf(a.provider)}${serverLog()}`)
    assert.deepEqual(a.provider.awareness.getStates().get(bId), { user: { name: 'Bob', id: bob.user.id } })

    // An update of the state is relayed as well.
    a.provider.awareness.setLocalStateField('user', { name: 'Alice', cursor: 7 })
    await waitFor(() => b.provider.awareness.getStates().get(aId)?.user?.cursor === 7, 5000,
      () => `B to see Alice's cursor: ${statesOf(b.provider)}`)
    assert.deepEqual(b.provider.awareness.getStates().get(aId), { user: { name: 'Alice', cursor: 7, id: alice.user.id } })

    // A leaves the normal way.
    let started = Date.now()
    clients.destroy(a.provider)
    await waitFor(() => !b.provider.awareness.getStates().has(aId), AWARENESS_REMOVAL_BOUND_MS,
      () => `B to drop A's awareness after A.destroy(): B's states ${statesOf(b.provider)}${serverLog()}`)
    const afterDestroyMs = Date.now() - started

    // C's socket is cut without the client's goodbye (no null awareness state is sent):
    // only the server can tell B that C is gone.
    // C also claims to be somebody else: the others see her account's name.
    const c = clients.connect(server.wsUrl, room, 'C3', { token: carol.token })
    await waitSynced(c.provider)
    c.provider.awareness.setLocalStateField('user', { name: 'Alice', color: '#c00' })
    const cId = c.doc.clientID
    await waitFor(() => b.provider.awareness.getStates().get(cId)?.user?.color === '#c00', 5000,
      () => `B to see Carol: ${statesOf(b.provider)}${serverLog()}`)
    assert.deepEqual(b.provider.awareness.getStates().get(cId), { user: { name: 'Carol', color: '#c00', id: carol.user.id } },
      'the name shown is the account\'s')
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
    await createDocument(server, room)
    const a = clients.connect(server.wsUrl, room, 'A4', { token: alice.token })
    const b = clients.connect(server.wsUrl, room, 'B4', { token: bob.token })
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
      a.doc.getXmlFragment('prosemirror').length === 2 && hasBlockIds(a.doc) &&
      util.isDeepStrictEqual(contents(a.doc), contents(b.doc)), 5000,
    () => `convergence after reconnect: A=${JSON.stringify(contents(a.doc))} B=${JSON.stringify(contents(b.doc))}${serverLog()}`)
    const frag = contents(a.doc).fragment
    assert.ok(frag.includes('<paragraph>offline <bold>B</bold></paragraph>'), frag)
    assert.ok(frag.includes('<paragraph>online A</paragraph>'), frag)

    const c = clients.connect(server.wsUrl, room, 'C4', { token: carol.token })
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
    await createDocument(server, 'interop-control')
    const p = clients.connect(server.wsUrl, 'interop-control', 'control5', { token: alice.token })
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

  test('6. an observer editing its local document with the npm provider: no other client and not the store ever see the change', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: the observer receives the delegate's text (it is live); its own edits (a Y.Text
    // insert and an XmlFragment paragraph in one transaction, then an update frame sent on a
    // raw socket) are answered once each with [2, 0, "read-only"], which y-websocket logs as
    // "Permission denied"; the connections stay open; after a later edit of the delegate
    // that the observer and a fresh client both receive, neither the delegate nor the fresh
    // client has the observer's content, and after a restart the stored document has none.
    const room = 'interop-observer'
    await createDocument(server, room)
    const ownText = ' OBSERVER WAS HERE'
    const rawText = 'RAW OBSERVER FRAME ' // also matched by hasObserverContent
    const hasObserverContent = (doc) => {
      const c = contents(doc)
      return c.text.includes('OBSERVER') || c.fragment.includes('OBSERVER') || c.fragment.includes('observer')
    }
    const show = (...named) => named.map(([n, doc]) => `${n}=${JSON.stringify(contents(doc))}`).join(' ')

    const d = clients.connect(server.wsUrl, room, 'D6', { token: alice.token })
    const o = clients.connect(server.wsUrl, room, 'O6', { token: olga.token })
    await waitSynced(d.provider)
    await waitSynced(o.provider)
    const td = d.doc.getText('t')
    const to = o.doc.getText('t')
    td.insert(0, 'Delegate text.')
    await waitFor(() => to.toString() === 'Delegate text.', 5000,
      () => `the observer to receive the delegate's text, has ${JSON.stringify(to.toString())}${serverLog()}`)

    // y-websocket's only reaction to [2, 0, reason] is console.warn("Permission denied to
    // access <url>.\n<reason>"), with the token in the url: captured, not printed.
    const warnedFrom = logged.length
    const readOnlyWarnings = () => logged.slice(warnedFrom).filter(({ level, message }) =>
      level === 'warn' && message.startsWith('Permission denied to access ') && message.includes(`/${room}?`))
    echo = false
    let raw = null
    try {
      o.doc.transact(() => {
        to.insert(to.length, ownText)
        o.doc.getXmlFragment('prosemirror').insert(0, [paragraph([['observer paragraph', {}]])])
      })
      assert.ok(hasObserverContent(o.doc), 'the edit is in the observer\'s own document')
      await waitFor(() => readOnlyWarnings().length > 0, 5000,
        () => `y-websocket to log the server's read-only message; logged ${JSON.stringify(logged.slice(warnedFrom))}${serverLog()}`)
      const [warning] = readOnlyWarnings()
      assert.ok(warning.message.endsWith('.\nread-only'), `warning: ${redactToken(warning.message)}`)

      // The same seen on the wire: a raw socket as the observer sends an update frame and
      // reads the exact reply.
      raw = await openRawSocket(`${server.wsUrl}/${room}?token=${encodeURIComponent(olga.token)}`)
      const rawDoc = new Y.Doc()
      rawDoc.getText('t').insert(0, rawText)
      raw.ws.send(updateFrame(Y.encodeStateAsUpdate(rawDoc)))
      rawDoc.destroy()
      await waitFor(() => raw.frames.some((f) => f[0] === 2), 5000,
        () => `the raw observer socket to get an auth message; got types ${raw.frames.map((f) => f[0])}${serverLog()}`)
      const authFrames = raw.frames.filter((f) => f[0] === 2)
      const readOnly = [2, 0, ...varUint('read-only'.length), ...Buffer.from('read-only')]
      assert.deepEqual(authFrames.map((f) => [...f]), [readOnly], 'one [2, 0, "read-only"] message')

      // Barrier: the server has already refused both edits (it answered them). The delegate
      // now writes again; once the observer (still live) and a client connected only now
      // both have that later edit, anything the server had taken from the observer would
      // have reached them before it.
      td.insert(td.length, ' Later.')
      const f = clients.connect(server.wsUrl, room, 'F6', { token: carol.token })
      await waitSynced(f.provider)
      const tf = f.doc.getText('t')
      await waitFor(() => to.toString().includes(' Later.') && tf.toString().includes(' Later.'), 5000,
        () => `the observer and the fresh client to get the later edit: ${show(['observer', o.doc], ['fresh', f.doc])}${serverLog()}`)
      assert.equal(td.toString(), 'Delegate text. Later.', `delegate: ${show(['delegate', d.doc])}`)
      assert.deepEqual(contents(f.doc), contents(d.doc), 'the fresh client has exactly the delegate\'s document')
      assert.ok(!hasObserverContent(d.doc) && !hasObserverContent(f.doc),
        `no observer content elsewhere: ${show(['delegate', d.doc], ['fresh', f.doc])}`)
      // The refusals did not cost the observer its connection (nor the second warning).
      assert.equal(o.provider.wsconnected, true, 'the observer is still connected')
      assert.equal(raw.ws.readyState, WebSocket.OPEN, 'the raw observer socket is still open')
      assert.equal(clients.receivedTypes.get('O6').filter((t) => t === 2).length, 1, 'the provider got one auth message')
      assert.equal(readOnlyWarnings().length, 1, 'y-websocket warned once')
      const others = logged.slice(warnedFrom).filter((entry) => !readOnlyWarnings().includes(entry))
      assert.deepEqual(others, [], 'nothing else was logged (and not printed) meanwhile')
      assert.ok(to.toString().includes(ownText), 'the observer keeps its local edit (nothing takes it back)')
    } finally {
      echo = true
      raw?.ws.terminate()
    }

    // The store: after a restart, a new client gets what the delegate had, nothing more.
    const expected = contents(d.doc)
    clients.destroyAll()
    const { code, signal } = await server.stop()
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `server exit on SIGTERM${serverLog()}`)
    server = await Server.start(dataDir)
    const r = clients.connect(server.wsUrl, room, 'R6', { token: bob.token })
    await waitSynced(r.provider)
    assert.deepEqual(contents(r.doc), expected, `stored document after restart${serverLog()}`)
    assert.equal(expected.text, 'Delegate text. Later.')
    assert.equal(expected.fragment, '')
  })

  test('7. WebSocket upgrades: anonymous gets 401, a foreign Origin gets 403 even with a valid session', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: no credentials → 401 unauthenticated; an unknown token → 401; Alice's valid
    // session cookie with Origin http://evil.example (cross-site WebSocket hijacking) → 403
    // origin_rejected, and with no Origin at all → 403; her valid token with a foreign
    // Origin → 403. Controls: the same cookie with the server's own Origin, and the token
    // alone, are accepted (101), so the refusals are about the Origin.
    await createDocument(server, 'interop-upgrade')
    const url = `${server.wsUrl}/interop-upgrade`
    const cookie = await login(server, 'alice@example.org', PASSWORD)
    const evil = 'http://evil.example'
    const cases = [
      ['anonymous', url, {}, 401, 'unauthenticated'],
      ['unknown token', `${url}?token=not-a-token`, {}, 401, 'unauthenticated'],
      ['session cookie, foreign Origin', url, { Cookie: cookie, Origin: evil }, 403, 'origin_rejected'],
      ['session cookie, no Origin', url, { Cookie: cookie }, 403, 'origin_rejected'],
      ['valid token, foreign Origin', `${url}?token=${encodeURIComponent(alice.token)}`, { Origin: evil }, 403, 'origin_rejected'],
      ['session cookie, own Origin', url, { Cookie: cookie, Origin: server.origin }, 101],
      ['valid token, no Origin', `${url}?token=${encodeURIComponent(alice.token)}`, {}, 101]
    ]
    for (const [what, target, headers, status, code] of cases) {
      const outcome = await tryUpgrade(target, headers)
      assert.equal(outcome.status, status, `${what}: HTTP ${outcome.status} ${JSON.stringify(outcome.body)}${serverLog()}`)
      if (code) assert.equal(outcome.body?.code, code, `${what}: body ${JSON.stringify(outcome.body)}`)
    }
  })

  test('8. a document that does not exist: 404 before the upgrade, and the provider never connects', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Expect: with Alice's valid token, the upgrade of /ws/interop-missing gets HTTP 404 with
    // code document_not_found (`ws` reports it as `unexpected-response`, statusCode 404). A
    // vanilla provider on it reports each refusal as a connection error ("Unexpected server
    // response: 404") and retries with backoff, never connected nor synced; destroyed, it
    // stops. Control: once the secretariat has created the document, the same upgrade is
    // accepted (101) and a new provider syncs, so the refusal was about the document.
    const room = 'interop-missing'
    const url = `${server.wsUrl}/${room}?token=${encodeURIComponent(alice.token)}`
    const refused = await tryUpgrade(url)
    assert.equal(refused.status, 404, `upgrade of an unknown document: HTTP ${refused.status} ${JSON.stringify(refused.body)}${serverLog()}`)
    assert.equal(refused.body?.code, 'document_not_found', `body ${JSON.stringify(refused.body)}`)

    const p = clients.connect(server.wsUrl, room, 'P8', { token: alice.token })
    const errors = []
    const statuses = []
    p.provider.on('connection-error', (event) => errors.push(String(event?.message ?? event)))
    p.provider.on('status', ({ status }) => statuses.push(status))
    // Two refusals: the provider does not give up on a 404 by itself, it backs off and retries.
    await waitFor(() => errors.length >= 2, 5000,
      () => `the provider to report two refused connections, got ${JSON.stringify(errors)}${serverLog()}`)
    assert.ok(errors.every((message) => message === 'Unexpected server response: 404'), `errors: ${JSON.stringify(errors)}`)
    assert.equal(p.provider.synced, false, 'never synced')
    assert.equal(p.provider.wsconnected, false, 'never connected')
    assert.ok(!statuses.includes('connected'), `statuses: ${JSON.stringify(statuses)}`)
    assert.deepEqual(clients.receivedTypes.get('P8'), [], 'no frame received')
    clients.destroy(p.provider)
    assert.equal(p.provider.shouldConnect, false, 'a destroyed provider does not reconnect')
    assert.equal(p.provider.ws, null, 'and holds no socket')

    await createDocument(server, room)
    const accepted = await tryUpgrade(url)
    assert.equal(accepted.status, 101, `upgrade once the document exists: HTTP ${accepted.status} ${JSON.stringify(accepted.body)}${serverLog()}`)
    const q = clients.connect(server.wsUrl, room, 'Q8', { token: alice.token })
    await waitSynced(q.provider)
    assert.equal(contents(q.doc).text, '', 'the new document is empty')
  })
  test('9. phase transitions: in Amendments a delegate\'s live edit through the npm provider never reaches another client nor the store; in Drafting it does', { timeout: 2 * TEST_TIMEOUT_MS }, async () => {
    // Expect, with two delegates' providers A and B on a template document, A's socket never
    // replaced: in Drafting, A's edit of a paragraph reaches B and the stored text. Moved to
    // Amendments (POST …/phase as the secretariat), A's next edit on the same connection gets
    // one [2, 0, "read-only"] (y-websocket's "Permission denied" warning) and nothing more:
    // B receives no document update within 1 s after that answer, the text the server holds
    // (GET …/text, state vector included) is unchanged, and A and B stay connected. Going
    // back to Drafting needs a reason (409 reason_required without one); then the server's
    // SyncStep1 brings A's frozen edit into the text (as README.md says) and A's next edit
    // reaches B and the store again. Frozen once more, A's edit is refused again (a second
    // auth message), and after a SIGTERM restart the document is still in Amendments, its
    // stored text has none of it, and a fresh third provider gets exactly what B had.
    const room = 'interop-phases'
    await createDocument(server, room, { title: 'Interop: phases', startWith: 'template' })
    const a = clients.connect(server.wsUrl, room, 'A9', { token: alice.token })
    const b = clients.connect(server.wsUrl, room, 'B9', { token: bob.token })
    await waitSynced(a.provider)
    await waitSynced(b.provider)
    const socketOfA = a.provider.ws
    const socketOfB = b.provider.ws
    const statuses = []
    for (const { provider } of [a, b]) provider.on('status', ({ status }) => statuses.push(`${provider.name}: ${status}`))
    /** A and B are still on the sockets they opened first: no close, no reconnect. */
    const sameConnections = (when) => {
      assert.equal(a.provider.wsconnected, true, `${when}: A is still connected${serverLog()}`)
      assert.equal(b.provider.wsconnected, true, `${when}: B is still connected${serverLog()}`)
      assert.equal(a.provider.ws, socketOfA, `${when}: A still uses its first socket`)
      assert.equal(b.provider.ws, socketOfB, `${when}: B still uses its first socket`)
      assert.equal(socketOfA.readyState, WebSocket.OPEN, `${when}: A's socket is open`)
      assert.deepEqual(statuses, [], `${when}: no status change of A or B`)
    }
    const authMessagesOfA = () => clients.receivedTypes.get('A9').filter((type) => type === 2).length
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

    // The template's first paragraph with text, the same element (same id) in every doc.
    const paragraphs = (doc) => doc.getXmlFragment('prosemirror').toArray()
      .filter((el) => el instanceof Y.XmlElement && el.nodeName === 'paragraph')
    const target = paragraphs(a.doc).find((el) => el.get(0) instanceof Y.XmlText && el.get(0).length > 0)
    assert.ok(target, `a paragraph with text in the template: ${contents(a.doc).fragment}`)
    const pid = target.getAttribute('id')
    assert.match(pid, BLOCK_ID)
    const textOf = (doc) => paragraphs(doc).find((el) => el.getAttribute('id') === pid)?.get(0)
    /** The paragraph's plain text in `doc`, marks dropped (null if it has no such paragraph). */
    const plain = (doc) => textOf(doc)?.toDelta().map((d) => d.insert).join('') ?? null
    const ta = textOf(a.doc)
    const original = plain(a.doc)
    assert.equal(plain(b.doc), original, 'B has the template paragraph too')
    let lastStored
    const stored = async () => (lastStored = (await storedText(server, room)).paragraphs.get(pid))
    assert.equal(await stored(), original, `the stored paragraph ${pid}${serverLog()}`)
    const doc0 = await getDocument(server, room)
    assert.deepEqual([doc0.phase, doc0.text_open], ['drafting', true], 'a new document is in Drafting')

    /** State vectors as Maps: the server's (base64 from GET …/text) and a Y.Doc's. */
    const serverStateVector = async () => Y.decodeStateVector(Buffer.from((await storedText(server, room)).view.state_vector, 'base64'))
    const stateVector = (doc) => Y.decodeStateVector(Y.encodeStateVector(doc))
    const showSV = (sv) => JSON.stringify([...sv].sort(([x], [y]) => x - y))

    // Drafting: the edit is live.
    const DRAFTED = ' [drafted live]'
    ta.insert(ta.length, DRAFTED, {})
    const drafted = original + DRAFTED
    await waitFor(() => plain(b.doc) === drafted, 5000,
      () => `B to get A's Drafting edit, has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
    await waitFor(async () => (await stored()) === drafted, 5000,
      () => `the store to hold A's Drafting edit, has ${JSON.stringify(lastStored)}${serverLog()}`)

    // Amendments: the same connection is now read-only.
    const amendments = await setPhase(server, room, 'amendments')
    assert.deepEqual([amendments.body.phase, amendments.body.text_open], ['amendments', false], JSON.stringify(amendments.body))
    const svBeforeFreeze = await serverStateVector()
    const FROZEN = ' [typed while frozen]'
    const AGAIN = ' [typed while frozen again]'
    const hasFrozenText = (text) => text.includes('while frozen')

    // y-websocket's only reaction to [2, 0, reason] is console.warn("Permission denied to
    // access <url>.\n<reason>"), with the token in the url: captured, not printed.
    let warnedFrom = logged.length
    const readOnlyWarnings = () => logged.slice(warnedFrom).filter(({ level, message }) =>
      level === 'warn' && message.startsWith('Permission denied to access ') && message.includes(`/${room}?`))
    const othersLogged = () => logged.slice(warnedFrom).filter((entry) => !readOnlyWarnings().includes(entry))
    let updatesOfB = []
    b.doc.on('update', (update) => updatesOfB.push(update))
    echo = false
    try {
      ta.insert(ta.length, FROZEN, {})
      assert.equal(plain(a.doc), drafted + FROZEN, 'the edit is in A\'s own document')
      // The warning means the server has read A's update (it answers an edit it drops).
      await waitFor(() => readOnlyWarnings().length > 0, 5000,
        () => `y-websocket to log the server's read-only message; logged ${JSON.stringify(logged.slice(warnedFrom))}; ` +
          `B got ${updatesOfB.length} update(s), has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
      await sleep(NEVER_SEEN_WINDOW_MS)
      assert.equal(updatesOfB.length, 0, `B received no document update while frozen; B has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
      assert.equal(plain(b.doc), drafted, 'B does not have the frozen edit')
      const frozenView = await storedText(server, room)
      assert.equal(frozenView.paragraphs.get(pid), drafted, `the stored paragraph while frozen${serverLog()}`)
      assert.ok(!hasFrozenText(JSON.stringify(frozenView.view)), 'no frozen edit anywhere in the stored text')
      const svFrozen = await serverStateVector()
      assert.equal(showSV(svFrozen), showSV(svBeforeFreeze), 'the server\'s state vector did not move')
      assert.equal(showSV(svFrozen), showSV(stateVector(b.doc)), 'the server holds what B holds')
      assert.ok(stateVector(a.doc).get(a.doc.clientID) > (svFrozen.get(a.doc.clientID) ?? 0),
        `A has updates the server does not: A ${showSV(stateVector(a.doc))}, server ${showSV(svFrozen)}`)
      sameConnections('frozen')
      assert.equal(authMessagesOfA(), 1, 'A got one auth message')
      assert.equal(readOnlyWarnings().length, 1, 'y-websocket warned once')
      assert.ok(readOnlyWarnings()[0].message.endsWith('.\nread-only'), `warning: ${redactToken(readOnlyWarnings()[0].message)}`)
      assert.deepEqual(othersLogged(), [], 'nothing else was logged (and not printed) meanwhile')
    } finally {
      echo = true
    }

    // Back to Drafting: only with a reason.
    const refused = await setPhase(server, room, 'drafting', { expect: 409 })
    assert.equal(refused.body?.code, 'reason_required', JSON.stringify(refused.body))
    const reopened = await setPhase(server, room, 'drafting', { reason: 'Interop test: reopening the text' })
    assert.deepEqual([reopened.body.phase, reopened.body.text_open], ['drafting', true], JSON.stringify(reopened.body))
    // The server's SyncStep1 gets A's frozen edit from A: it joins the text, as an offline
    // edit would, and then A's new edit on the same connection is live again.
    await waitFor(() => plain(b.doc) === drafted + FROZEN, 5000,
      () => `B to get the frozen edit once the text reopened, has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
    const REOPENED = ' [after reopening]'
    ta.insert(ta.length, REOPENED, {})
    const reopenedText = drafted + FROZEN + REOPENED
    await waitFor(() => plain(b.doc) === reopenedText, 5000,
      () => `B to get A's edit after reopening, has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
    await waitFor(async () => (await stored()) === reopenedText, 5000,
      () => `the store to hold A's edit after reopening, has ${JSON.stringify(lastStored)}${serverLog()}`)
    assert.deepEqual(contents(b.doc), contents(a.doc), 'A and B hold the same document')
    sameConnections('reopened')
    assert.equal(authMessagesOfA(), 1, 'no further auth message while writable')

    // Frozen again: refused again, told again, and the store keeps none of it across a restart.
    await setPhase(server, room, 'amendments')
    warnedFrom = logged.length
    updatesOfB = []
    echo = false
    try {
      ta.insert(ta.length, AGAIN, {})
      await waitFor(() => readOnlyWarnings().length > 0, 5000,
        () => `y-websocket to log the second read-only message; logged ${JSON.stringify(logged.slice(warnedFrom))}; ` +
          `B got ${updatesOfB.length} update(s), has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
      await sleep(NEVER_SEEN_WINDOW_MS)
      assert.equal(updatesOfB.length, 0, `B received no document update while frozen again; B has ${JSON.stringify(plain(b.doc))}${serverLog()}`)
      assert.equal(plain(b.doc), reopenedText)
      assert.equal(await stored(), reopenedText, `the stored paragraph while frozen again${serverLog()}`)
      sameConnections('frozen again')
      assert.equal(authMessagesOfA(), 2, 'A was told again')
      assert.equal(readOnlyWarnings().length, 1)
      assert.deepEqual(othersLogged(), [], 'nothing else was logged (and not printed) meanwhile')
    } finally {
      echo = true
    }
    const expected = contents(b.doc)
    clients.destroyAll()
    const { code, signal } = await server.stop()
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `server exit on SIGTERM${serverLog()}`)
    server = await Server.start(dataDir)
    const restarted = await getDocument(server, room)
    assert.deepEqual([restarted.phase, restarted.text_open], ['amendments', false], 'still in Amendments after the restart')
    const afterRestart = await storedText(server, room)
    assert.equal(afterRestart.paragraphs.get(pid), reopenedText, `the stored paragraph after the restart${serverLog()}`)
    assert.ok(!JSON.stringify(afterRestart.view).includes(AGAIN.trim()), 'the second frozen edit is not stored')
    const c = clients.connect(server.wsUrl, room, 'C9', { token: carol.token })
    await waitSynced(c.provider)
    assert.equal(plain(c.doc), reopenedText, `a fresh provider after the restart${serverLog()}`)
    assert.deepEqual(contents(c.doc), expected, 'the fresh provider gets exactly what B had')
  })
})
