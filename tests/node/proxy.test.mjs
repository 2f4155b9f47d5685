// The reverse-proxy configurations of deploy/ tested for real: Debian's `caddy` (HTTPS from
// its internal certificate authority) and `nginx` (a certificate made here with openssl),
// each on loopback in front of the real server, configured with the shipped files (the
// Caddyfile imported as is; the nginx site with its domain, ports, certificate and upstream
// replaced). Through each proxy: log in (the `__Host-` cookie), co-edit with the unmodified
// npm `y-websocket` client over wss:// with that cookie, the Origin and CSRF checks, the
// request size limit, /metrics refused, the client address and the request id.
//
// Run: npm ci && MANIFESTO_BIN=/path/to/manifesto npm test. caddy, nginx and openssl must be
// installed (scripts/test.sh installs them); set MANIFESTO_PROXY_TESTS=skip to skip this file
// on a machine without them.

import { describe, before, after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Server, ADMIN, Y, WebsocketProvider, WebSocket, makeDataDir, removeDir, waitFor, serverBinary } from './helpers.mjs'

const DEPLOY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy')
const START_TIMEOUT_MS = 30_000
const TEST_TIMEOUT_MS = 30_000
const SKIP = process.env.MANIFESTO_PROXY_TESTS === 'skip'

/** Whether `command` runs (`command -v`). */
function have (command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** A free TCP port on 127.0.0.1 (the kernel's choice; released for the proxy to take). */
function freePort () {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** `text` with `from` replaced by `to`; throws if `from` is not there (the file changed). */
function replaceIn (text, from, to) {
  if (!text.includes(from)) throw new Error(`the shipped configuration no longer contains ${JSON.stringify(from)}`)
  return text.split(from).join(to)
}

/** Resolves every name to 127.0.0.1, so `localhost` never means ::1 here. */
function loopback (hostname, options, callback) {
  if (options?.all) callback(null, [{ address: '127.0.0.1', family: 4 }])
  else callback(null, '127.0.0.1', 4)
}

/**
 * An HTTPS request to the proxy at `origin` trusting `ca`. Resolves to
 * `{ status, headers, body }` (`body` parsed when JSON).
 */
function request (origin, ca, method, pathname, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(pathname, origin)
    const payload = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body))
    const req = https.request(url, {
      method,
      ca,
      lookup: loopback,
      headers: {
        ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
        ...headers
      }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { text += chunk })
      res.on('end', () => {
        let parsed = text
        try { parsed = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body: parsed })
      })
    })
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/** Tries a WebSocket upgrade; resolves to 101 or the HTTP status it was refused with. */
function upgradeStatus (url, ca, headers) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, headers, lookup: loopback })
    ws.once('open', () => { ws.terminate(); resolve(101) })
    ws.once('unexpected-response', (_req, res) => { res.resume(); ws.terminate(); resolve(res.statusCode) })
    ws.once('error', (e) => reject(e))
  })
}

/** A proxy process, its log kept for failure messages. */
class Proxy {
  constructor (name, child) {
    this.name = name
    this.child = child
    this.log = ''
    child.stdout?.on('data', (chunk) => { this.log += chunk })
    child.stderr?.on('data', (chunk) => { this.log += chunk })
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  }

  async stop () {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await this.exit
    clearTimeout(timer)
  }
}

/** Caddy with the shipped Caddyfile, its internal CA, on `port`. Resolves to `{ proxy, ca }`. */
async function startCaddy (dir, port, upstreamPort) {
  const httpPort = await freePort()
  const storage = path.join(dir, 'caddy')
  const config = path.join(dir, 'Caddyfile')
  // Test-only global options: no admin endpoint, no redirect listener, loopback only,
  // certificates from Caddy's own CA (not trusted system-wide), storage in the test's dir.
  fs.writeFileSync(config, [
    '{',
    '\tadmin off',
    '\tauto_https disable_redirects',
    '\tlocal_certs',
    '\tskip_install_trust',
    '\tdefault_bind 127.0.0.1',
    `\thttp_port ${httpPort}`,
    `\thttps_port ${port}`,
    `\tstorage file_system ${storage}`,
    '}',
    `import ${path.join(DEPLOY, 'Caddyfile')}`,
    ''
  ].join('\n'))
  const child = spawn('caddy', ['run', '--config', config, '--adapter', 'caddyfile'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: path.join(dir, 'xdg-data'),
      XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
      MANIFESTO_DOMAIN: `localhost:${port}`,
      MANIFESTO_UPSTREAM: `127.0.0.1:${upstreamPort}`
    }
  })
  const proxy = new Proxy('caddy', child)
  const root = path.join(storage, 'pki', 'authorities', 'local', 'root.crt')
  await waitFor(() => fs.existsSync(root) || child.exitCode !== null, START_TIMEOUT_MS, () => `Caddy's root certificate; log:\n${proxy.log}`)
  if (child.exitCode !== null) throw new Error(`caddy exited: ${proxy.log}`)
  return { proxy, ca: fs.readFileSync(root) }
}

/** nginx with the shipped site configuration, a fresh certificate, on `port`. */
async function startNginx (dir, port, upstreamPort) {
  const httpPort = await freePort()
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1',
    '-keyout', key, '-out', cert
  ], { stdio: 'ignore' })
  let site = fs.readFileSync(path.join(DEPLOY, 'nginx', 'manifesto.conf'), 'utf8')
  site = replaceIn(site, 'server 127.0.0.1:8080;', `server 127.0.0.1:${upstreamPort};`)
  site = replaceIn(site, '/etc/letsencrypt/live/manifesto.example.org/fullchain.pem', cert)
  site = replaceIn(site, '/etc/letsencrypt/live/manifesto.example.org/privkey.pem', key)
  site = replaceIn(site, 'manifesto.example.org', 'localhost')
  site = replaceIn(site, 'listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`)
  site = replaceIn(site, 'listen 80;', `listen 127.0.0.1:${httpPort};`)
  site = replaceIn(site, '    listen [::]:443 ssl http2;\n', '')
  site = replaceIn(site, '    listen [::]:80;\n', '')
  fs.writeFileSync(path.join(dir, 'manifesto.conf'), site)
  // nginx's workers (user nobody when started as root) write request bodies under tmp/.
  fs.chmodSync(dir, 0o755)
  const tmp = path.join(dir, 'tmp')
  fs.mkdirSync(tmp, { mode: 0o777 })
  fs.chmodSync(tmp, 0o777)
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `    ${t}_temp_path ${path.join(tmp, t)};`)
  fs.writeFileSync(path.join(dir, 'nginx.conf'), [
    'worker_processes 1;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    `error_log ${path.join(dir, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${path.join(dir, 'access.log')};`,
    ...temps,
    `    include ${path.join(dir, 'manifesto.conf')};`,
    '}',
    ''
  ].join('\n'))
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const proxy = new Proxy('nginx', child)
  return { proxy, ca: fs.readFileSync(cert) }
}

for (const kind of ['caddy', 'nginx']) {
  describe(`behind ${kind} (deploy/)`, { skip: SKIP && 'MANIFESTO_PROXY_TESTS=skip', timeout: 120_000 }, () => {
    let dir, dataDir, server, proxy, ca, origin, port
    const providers = []

    before(async () => {
      for (const command of [kind, 'openssl']) {
        assert.ok(have(command), `${command} is not installed: apt-get install ${command === 'openssl' ? 'openssl' : kind} (scripts/test.sh does), or set MANIFESTO_PROXY_TESTS=skip`)
      }
      serverBinary()
      dir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), `manifesto-${kind}-`))
      dataDir = makeDataDir()
      port = await freePort()
      origin = `https://localhost:${port}`
      server = await Server.start(dataDir, { args: ['--public-url', origin, '--trust-forwarded-for'] })
      ;({ proxy, ca } = await (kind === 'caddy' ? startCaddy : startNginx)(dir, port, server.port))
      await waitFor(async () => {
        if (proxy.child.exitCode !== null) throw new Error(`${kind} exited:\n${proxy.log}`)
        return (await request(origin, ca, 'GET', '/readyz')).status === 200
      }, START_TIMEOUT_MS, () => `${kind} to answer /readyz; its log:\n${proxy.log}`)
    })

    after(async () => {
      for (const { provider, doc } of providers) {
        provider.destroy()
        doc.destroy()
      }
      await proxy?.stop()
      await server?.stop()
      removeDir(dataDir)
      removeDir(dir)
    })

    /** Logs in through the proxy; returns the `__Host-` cookie pair. */
    async function login () {
      const res = await request(origin, ca, 'POST', '/api/session', {
        headers: { Origin: origin, 'X-Forwarded-For': '203.0.113.9' },
        body: { email: ADMIN.email, password: ADMIN.password }
      })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      const setCookie = [res.headers['set-cookie']].flat().find((c) => c.startsWith('__Host-manifesto_session='))
      assert.ok(setCookie, `a __Host- session cookie, got ${JSON.stringify(res.headers['set-cookie'])}`)
      const attributes = setCookie.split(';').map((a) => a.trim())
      assert.ok(attributes.includes('Secure'), setCookie)
      assert.ok(attributes.includes('Path=/'), setCookie)
      assert.ok(!attributes.some((a) => a.toLowerCase().startsWith('domain=')), setCookie)
      return attributes[0]
    }

    test('log in with the __Host- cookie, co-edit over wss:// with y-websocket', { timeout: TEST_TIMEOUT_MS }, async () => {
      const cookie = await login()
      const created = await request(origin, ca, 'POST', '/api/documents', {
        headers: { Origin: origin, Cookie: cookie },
        body: { id: `behind-${kind}`, title: `Behind ${kind}`, start_with: 'empty' }
      })
      assert.equal(created.status, 201, JSON.stringify(created.body))

      // The browser's way: the session cookie and this site's Origin on the upgrade.
      class BrowserLikeSocket extends WebSocket {
        constructor (url, protocols) {
          super(url, protocols, { ca, lookup: loopback, headers: { Cookie: cookie, Origin: origin } })
        }
      }
      const connect = () => {
        const doc = new Y.Doc()
        const provider = new WebsocketProvider(`wss://localhost:${port}/ws`, `behind-${kind}`, doc, {
          WebSocketPolyfill: BrowserLikeSocket,
          disableBc: true
        })
        providers.push({ provider, doc })
        return { provider, doc }
      }
      const a = connect()
      const b = connect()
      await waitFor(() => a.provider.synced && b.provider.synced, 10_000, () => `both providers to sync through ${kind}; server log:\n${server.tail()}\n${kind} log:\n${proxy.log}`)
      a.doc.getText('t').insert(0, 'Through the proxy. ')
      await waitFor(() => b.doc.getText('t').toString() === 'Through the proxy. ', 5_000, 'b to see a\'s edit')
      b.doc.getText('t').insert(b.doc.getText('t').length, 'Both ways.')
      await waitFor(() => a.doc.getText('t').toString() === 'Through the proxy. Both ways.', 5_000, 'a to see b\'s edit')

      // Held by the server: a provider connected only now gets both edits through the proxy.
      const c = connect()
      await waitFor(() => c.provider.synced, 10_000, () => `a third provider to sync through ${kind}; server log:\n${server.tail()}`)
      assert.equal(c.doc.getText('t').toString(), 'Through the proxy. Both ways.')
    })

    test('the Origin and CSRF checks hold behind the proxy', { timeout: TEST_TIMEOUT_MS }, async () => {
      const cookie = await login()
      const wsUrl = `wss://localhost:${port}/ws/behind-${kind}`
      assert.equal(await upgradeStatus(wsUrl, ca, { Cookie: cookie, Origin: origin }), 101)
      assert.equal(await upgradeStatus(wsUrl, ca, { Cookie: cookie, Origin: 'https://evil.example' }), 403)
      assert.equal(await upgradeStatus(wsUrl, ca, { Cookie: cookie }), 403)
      // The server's own address is not the public origin: refused too.
      assert.equal(await upgradeStatus(wsUrl, ca, { Cookie: cookie, Origin: `http://127.0.0.1:${server.port}` }), 403)
      const foreign = await request(origin, ca, 'POST', '/api/me/tokens', {
        headers: { Origin: 'https://evil.example', Cookie: cookie },
        body: { name: 'csrf' }
      })
      assert.equal(foreign.status, 403)
      assert.equal(foreign.body.code, 'csrf_rejected')
      const same = await request(origin, ca, 'POST', '/api/me/tokens', {
        headers: { Origin: origin, Cookie: cookie },
        body: { name: 'same site' }
      })
      assert.equal(same.status, 201, JSON.stringify(same.body))
    })

    test('size limit, /metrics refused, client address and request id', { timeout: TEST_TIMEOUT_MS }, async () => {
      const cookie = await login()
      const tooLarge = await request(origin, ca, 'POST', '/api/documents', {
        headers: { Origin: origin, Cookie: cookie },
        body: 'x'.repeat(3 * 1024 * 1024)
      })
      // Refused by the proxy itself: the server would answer JSON (413 payload_too_large).
      assert.equal(tooLarge.status, 413)
      assert.notEqual(tooLarge.body?.code, 'payload_too_large', 'the body reached the server')

      assert.equal((await request(origin, ca, 'GET', '/metrics')).status, 404)
      const direct = await fetch(`http://127.0.0.1:${server.port}/metrics`)
      assert.equal(direct.status, 200)
      await direct.text()

      // The audit log records the client's address as the proxy saw it, not the
      // X-Forwarded-For the client sent.
      const audit = await request(origin, ca, 'GET', '/api/audit?limit=1000', { headers: { Cookie: cookie } })
      assert.equal(audit.status, 200)
      const logins = audit.body.filter((e) => e.action === 'login.succeeded')
      assert.ok(logins.length > 0)
      for (const entry of logins) assert.equal(entry.actor.address, '127.0.0.1')

      // The proxy's request id reaches the server, which answers it.
      const health = await request(origin, ca, 'GET', '/healthz')
      assert.match(String(health.headers['x-request-id']), /^[0-9a-f-]{32,36}$/)
    })
  })
}
