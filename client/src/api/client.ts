// Every call to the server's JSON API goes through `api`: it sends the session cookie and JSON,
// and turns every failure into an `ApiFailure` with the server's machine-readable code. Some
// failures concern the whole app and are also announced on `failures`: an ended session (the
// app asks to log in again, in place, so nothing typed is lost) and rate limits (a wait
// message).
import { signal } from '@preact/signals'

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds to wait, from `Retry-After` (429 and 503). */
    readonly retryAfter: number | null = null,
  ) {
    super(message)
    this.name = 'ApiFailure'
  }
}

/** The session ended (logged out elsewhere, expired, deactivated): log in again. */
export const sessionEnded = signal(false)
/** Until when (ms since epoch) the server asked us to wait, or 0. */
export const waitUntil = signal(0)

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'

export async function api<T>(method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  let payload: BodyInit | undefined
  // The server's CSRF rule wants JSON on every POST, PUT and PATCH, even those without a body.
  if (body === undefined && (method === 'POST' || method === 'PUT' || method === 'PATCH')) body = {}
  if (body instanceof FormData) payload = body
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  let response: Response
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' })
  } catch {
    throw new ApiFailure(0, 'network', 'The server cannot be reached.')
  }
  if (response.ok) {
    if (response.status === 204) return undefined as T
    const type = response.headers.get('content-type') ?? ''
    return (type.includes('json') ? await response.json() : await response.text()) as T
  }
  throw await failure(response, method, path)
}

async function failure(response: Response, method: Method, path: string): Promise<ApiFailure> {
  let code = `http_${response.status}`
  let message = response.statusText
  try {
    const body = await response.json()
    if (typeof body?.code === 'string') code = body.code
    if (typeof body?.message === 'string') message = body.message
  } catch {
    /* not JSON: keep the status */
  }
  const retry = Number(response.headers.get('retry-after'))
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null
  // A failed login is not an ended session.
  if (response.status === 401 && !(method === 'POST' && path === '/api/session')) sessionEnded.value = true
  if (response.status === 429 || (response.status === 503 && code === 'busy')) {
    waitUntil.value = Date.now() + (retryAfter ?? 5) * 1000
  }
  return new ApiFailure(response.status, code, message, retryAfter)
}

/** `?a=1&b=x` from the defined entries of `query`. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}
