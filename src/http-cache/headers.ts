// Header lists for proxying: hop-by-hop fields are dropped both ways (RFC 9110 §7.6.1).
import type { IncomingHttpHeaders } from 'node:http'

export type HeaderList = [name: string, value: string][]

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
])

/** Names listed in Connection are hop-by-hop too. */
function connectionListed(connection: string | string[] | undefined): Set<string> {
  const value = Array.isArray(connection) ? connection.join(',') : (connection ?? '')
  return new Set(
    value
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean),
  )
}

/** End-to-end fields of a Node/undici header object, as a list (repeated fields such as Set-Cookie stay separate). */
export function endToEnd(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  drop: readonly string[] = [],
): HeaderList {
  const listed = connectionListed(headers.connection)
  const list: HeaderList = []
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase()
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || drop.includes(name)) continue
    if (Array.isArray(value)) for (const v of value) list.push([name, v])
    else list.push([name, value])
  }
  return list
}

/** A lookup over a header list: repeated fields joined with ", " (Set-Cookie is only ever tested for presence). */
export function getter(list: HeaderList): (name: string) => string | null {
  return (name) => {
    let found: string | null = null
    for (const [n, v] of list) if (n === name) found = found === null ? v : `${found}, ${v}`
    return found
  }
}

/** Fields of a 103 that never reach the client: one user's cookies, and Content-Length (a 1xx has no body). */
const NOT_HINTED = ['set-cookie', 'content-length']

/**
 * The fields of an upstream's 103 Early Hints worth relaying (RFC 8297): end-to-end ones only, never a cookie, and
 * each Link value on its own line (Node's writeEarlyHints refuses values joined with commas).
 */
export function earlyHints(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const hints: Record<string, string | string[]> = {}
  const links: string[] = []
  for (const [name, value] of endToEnd(headers, NOT_HINTED)) {
    if (name === 'link') links.push(...splitList(value))
    else hints[name] = hints[name] === undefined ? value : `${String(hints[name])}, ${value}`
  }
  if (links.length > 0) hints.link = links
  return hints
}

/** Splits a field value on the commas between its members, not those inside <…> or "…" (RFC 8288 §3). */
function splitList(value: string): string[] {
  const members: string[] = []
  let start = 0
  let inside: '<' | '"' | undefined
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]
    if (inside === '"' && ch === '\\') i++
    else if (inside === '"' && ch === '"') inside = undefined
    else if (inside === '<' && ch === '>') inside = undefined
    else if (inside === undefined && (ch === '<' || ch === '"')) inside = ch
    else if (inside === undefined && ch === ',') {
      members.push(value.slice(start, i).trim())
      start = i + 1
    }
  }
  members.push(value.slice(start).trim())
  return members.filter(Boolean)
}
