// Session storage over the Store: sliding idle expiry capped by an absolute lifetime, amortised touches,
// compare-and-set updates, rotation in one atomic step.
import type { Entry, SetInput, Store } from '../store/types.ts'
import { newSessionId } from './ids.ts'
import { mergePatch, type Json } from './merge-patch.ts'

export const SESSION_NAMESPACE = 'sessions'
/** Subject tags carry a space, which key/value tags cannot: a KV purge never ends sessions. */
export const subjectTag = (subject: string) => `subject ${subject}`

export interface SessionSettings {
  readonly idleTtlMs: number
  readonly absoluteTtlMs: number
  readonly maxBytes: number
  readonly touchFraction: number
}

export interface Session {
  readonly id: string
  /** The data as stored JSON text: a read serves it without parsing and re-serialising it. */
  readonly dataJson: string
  readonly subject: string | null
  readonly expiresAt: number
  readonly absoluteExpiresAt: number
  readonly etag: string
}

/** A session's stored state (see encode). */
interface SessionRecord {
  readonly d: { [key: string]: Json }
  readonly s: string | null
  readonly a: number
}

export type Update = Session | 'not-found' | 'precondition-failed'

export class SessionDataTooLarge extends Error {}

/*
 * Stored as three lines: absolute expiry, subject as JSON, data as JSON. Reads split the lines and hand the data
 * text over as is (measured: parsing and re-serialising 1 KiB of data on every read cost a fifth of a session GET).
 */
function encode(record: SessionRecord): Buffer {
  return Buffer.from(`${record.a}\n${JSON.stringify(record.s)}\n${JSON.stringify(record.d)}`)
}

interface RawRecord {
  readonly a: number
  readonly s: string | null
  readonly dataJson: string
}

function decodeRaw(entry: Entry): RawRecord {
  const text = Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength).toString('utf8')
  const first = text.indexOf('\n')
  const second = text.indexOf('\n', first + 1)
  return { a: Number(text.slice(0, first)), s: JSON.parse(text.slice(first + 1, second)) as string | null, dataJson: text.slice(second + 1) }
}

function decode(entry: Entry): SessionRecord {
  const raw = decodeRaw(entry)
  return { a: raw.a, s: raw.s, d: JSON.parse(raw.dataJson) as { [key: string]: Json } }
}

function toSession(id: string, entry: Entry): Session {
  const raw = decodeRaw(entry)
  return { id, dataJson: raw.dataJson, subject: raw.s, expiresAt: entry.expiresAt, absoluteExpiresAt: raw.a, etag: entry.etag }
}

export class Sessions {
  readonly #store: Store
  readonly #settings: SessionSettings
  readonly #now: () => number

  constructor(store: Store, settings: SessionSettings, now: () => number) {
    this.#store = store
    this.#settings = settings
    this.#now = now
  }

  async create(data: { [key: string]: Json }, subject: string | null): Promise<Session> {
    this.#checkSize(data)
    const record: SessionRecord = { d: data, s: subject, a: this.#now() + this.#settings.absoluteTtlMs }
    // 256 random bits never collide in practice; create-only still guards the impossible.
    for (;;) {
      const id = newSessionId()
      const result = await this.#store.set({ namespace: SESSION_NAMESPACE, key: id, ...this.#input(record) }, { ifNoneMatchAny: true })
      if (result.status !== 'precondition-failed') {
        return { id, dataJson: JSON.stringify(data), subject, expiresAt: result.expiresAt, absoluteExpiresAt: record.a, etag: result.etag }
      }
    }
  }

  /** The live session, its idle expiry extended (unless `touch` is false) once enough of it has passed. */
  async get(id: string, touch: boolean): Promise<Session | undefined> {
    const entry = await this.#store.get(SESSION_NAMESPACE, id)
    if (!entry || !touch) return entry && toSession(id, entry)
    const now = this.#now()
    // Amortised: rewrite the expiry only once a share of the idle TTL has passed since the last write.
    const due = now - entry.createdAt >= this.#settings.idleTtlMs * this.#settings.touchFraction
    if (!due) return toSession(id, entry)
    const record = decodeRaw(entry)
    if (Math.min(now + this.#settings.idleTtlMs, record.a) <= entry.expiresAt) return toSession(id, entry)
    // The same bytes again with a new expiry: nothing to parse or re-serialise.
    const touched = await this.#store.update(SESSION_NAMESPACE, id, (current) => ({
      value: current.value, contentType: current.contentType, tags: current.tags,
      ttlMs: this.#ttlUntil(decodeRaw(current).a),
    }))
    return touched.status === 'updated' || touched.status === 'unchanged' ? toSession(id, touched.entry) : undefined
  }

  replace(id: string, data: { [key: string]: Json }, ifMatch: readonly string[] | undefined): Promise<Update> {
    this.#checkSize(data)
    return this.#modify(id, ifMatch, (record) => ({ ...record, d: data }))
  }

  /** RFC 7396 merge patch of `data`, applied atomically: concurrent patches never lose one another's changes. */
  async patch(id: string, patch: Json, ifMatch: readonly string[] | undefined): Promise<Update | 'not-an-object'> {
    let notAnObject = false
    const result = await this.#modify(id, ifMatch, (record) => {
      const data = mergePatch(record.d, patch)
      if (typeof data !== 'object' || data === null || Array.isArray(data)) {
        notAnObject = true
        return undefined
      }
      this.#checkSize(data)
      return { ...record, d: data }
    })
    return notAnObject ? 'not-an-object' : result
  }

  async #modify(id: string, ifMatch: readonly string[] | undefined, change: (record: SessionRecord) => SessionRecord | undefined): Promise<Update> {
    const result = await this.#store.update(SESSION_NAMESPACE, id, (current) => {
      const next = change(decode(current))
      return next && this.#input(next)
    }, ifMatch ? { ifMatch } : undefined)
    return 'entry' in result ? toSession(id, result.entry) : result.status
  }

  /** The store write for a record: idle TTL from now, never past the absolute lifetime. */
  #input(record: SessionRecord): Omit<SetInput, 'namespace' | 'key'> {
    return {
      value: encode(record), contentType: 'application/x-cachecar-session',
      ttlMs: this.#ttlUntil(record.a),
      tags: record.s === null ? [] : [subjectTag(record.s)],
    }
  }

  /** The idle TTL from now, never past the absolute expiry. */
  #ttlUntil(absoluteExpiresAt: number): number {
    return Math.max(1, Math.min(this.#settings.idleTtlMs, absoluteExpiresAt - this.#now()))
  }

  async destroy(id: string): Promise<boolean> {
    return (await this.#store.delete(SESSION_NAMESPACE, id)) === 'deleted'
  }

  destroySubject(subject: string): Promise<number> {
    return this.#store.deleteTags([subjectTag(subject)])
  }

  /** A new ID for the same session; the old ID is gone in the same atomic step. */
  async rotate(id: string): Promise<Session | undefined> {
    for (;;) {
      const next = newSessionId()
      if (await this.#store.rename(SESSION_NAMESPACE, id, next)) return this.get(next, false)
      if (!(await this.#store.get(SESSION_NAMESPACE, id))) return undefined
    }
  }

  /** 413 material: session data over the configured size, measured as JSON. */
  #checkSize(data: Json): void {
    if (Buffer.byteLength(JSON.stringify(data)) > this.#settings.maxBytes) throw new SessionDataTooLarge()
  }
}
