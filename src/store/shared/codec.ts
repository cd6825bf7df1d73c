// How keys, entries, tags and invalidation messages look in the shared tier.
import { createHash } from 'node:crypto'
import type { Entry } from '../types.ts'

/** What another instance changed; every receiver drops its near copies of it. */
export type Invalidation =
  | { readonly namespace: string; readonly keys: readonly string[] }
  | { readonly namespace: string; readonly prefix: string }
  | { readonly tags: readonly string[] }

/** Tags as a JSON array: the scripts read it with cjson, so a tag may hold any character (session subjects do). */
export function tagField(tags: readonly string[]): string {
  return JSON.stringify(tags)
}

export function tagsFrom(field: Buffer | undefined): string[] {
  try {
    const tags: unknown = JSON.parse(field?.toString('utf8') || '[]')
    return Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === 'string') : []
  } catch {
    return [] // not a JSON list (not written by cachecar): no tags
  }
}

export function entryFrom(
  namespace: string,
  key: string,
  fields: Record<string, Buffer>,
  now: number,
): Entry | undefined {
  const { v, t, e, g, c, x } = fields
  if (!v || !t || !e || !c || !x) return undefined
  const expiresAt = Number(x.toString('latin1'))
  // The engine's clock expires the key; ours decides what counts as live, as everywhere else.
  if (!(expiresAt > now)) return undefined
  return {
    namespace,
    key,
    value: v,
    contentType: t.toString('utf8'),
    etag: e.toString('latin1'),
    tags: tagsFrom(g),
    writtenAt: Number(c.toString('latin1')),
    expiresAt,
    size: v.byteLength,
  }
}

export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/** The invalidation another instance published, or undefined for our own, malformed or foreign messages. */
export function invalidationFrom(raw: string, selfId: string): Invalidation | undefined {
  let message: unknown
  try {
    message = JSON.parse(raw)
  } catch {
    return undefined // not JSON: not one of ours
  }
  if (!isInvalidation(message) || (message as { from?: unknown }).from === selfId) return undefined
  return message
}

function isInvalidation(message: unknown): message is Invalidation {
  if (typeof message !== 'object' || message === null) return false
  const m = message as Record<string, unknown>
  const strings = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string')
  if (typeof m.namespace === 'string') return strings(m.keys) || typeof m.prefix === 'string'
  return strings(m.tags)
}

/**
 * The engine's key names, all under one prefix (one per service): e: entries, l: coalescing locks, t: tag sets,
 * p: purge notes, and the invalidation channel. A secret namespace's keys (session IDs) are stored as their SHA-256.
 */
export class EngineKeys {
  readonly #prefix: string
  readonly #secretKeys: ReadonlySet<string> | undefined
  readonly channel: string
  readonly tagPrefix: string
  readonly purgeNotes: string

  constructor(prefix: string, secretKeys?: ReadonlySet<string>) {
    this.#prefix = prefix
    this.#secretKeys = secretKeys
    this.channel = `${prefix}invalidate`
    this.tagPrefix = `${prefix}t:`
    this.purgeNotes = `${prefix}p:`
  }

  entry(namespace: string, key: string): string {
    const stored = this.#secretKeys?.has(namespace) ? createHash('sha256').update(key).digest('hex') : key
    return `${this.#prefix}e:${namespace}\u0000${stored}`
  }

  lock(namespace: string, key: string): string {
    return `${this.#prefix}l:${this.entry(namespace, key).slice(this.#prefix.length)}`
  }
}
