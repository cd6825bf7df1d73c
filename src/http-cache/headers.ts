// Header lists for proxying: hop-by-hop fields are dropped both ways (RFC 9110 §7.6.1).
import type { IncomingHttpHeaders } from 'node:http'

export type HeaderList = [name: string, value: string][]

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-authenticate', 'proxy-authorization',
])

/** Names listed in Connection are hop-by-hop too. */
function connectionListed(connection: string | string[] | undefined): Set<string> {
  const value = Array.isArray(connection) ? connection.join(',') : connection ?? ''
  return new Set(value.split(',').map((v) => v.trim().toLowerCase()).filter(Boolean))
}

/** End-to-end fields of a Node/undici header object, as a list (repeated fields such as Set-Cookie stay separate). */
export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, drop: readonly string[] = []): HeaderList {
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
