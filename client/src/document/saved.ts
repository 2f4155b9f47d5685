// "All changes saved": the server's durable state vector covers everything this browser has.
import * as Y from 'yjs'

export function savedCovers(saved: Uint8Array, local: Uint8Array): boolean {
  let server: Map<number, number>
  let mine: Map<number, number>
  try {
    server = Y.decodeStateVector(saved)
    mine = Y.decodeStateVector(local)
  } catch {
    return false
  }
  for (const [client, clock] of mine) {
    if ((server.get(client) ?? 0) < clock) return false
  }
  return true
}
