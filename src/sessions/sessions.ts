// Session storage over the Store: sliding idle expiry capped by an absolute lifetime, amortised touches,
// compare-and-set updates, rotation in one atomic step.
import { SESSIONS, subjectTag } from '../store/keyspace.ts'
import type { Entry, SetInput, Store } from '../store/types.ts'
import { newSessionId } from './ids.ts'
import { isJsonObject, mergePatch, type Json } from './merge-patch.ts'

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

/** The content type of every record Sessions writes; a record of any other type is not one of its own. */
const RECORD_TYPE = 'application/x-cachecar-session'
/** The longest subject a session may name (checked when created, and again when a record is read). */
export const MAX_SUBJECT_LENGTH = 256

/*
 * Stored as three lines: absolute expiry, subject as JSON, data as JSON. Reads split the lines and hand the data
 * text over as is, once it has been checked to be what encode wrote.
 */
function encode(record: SessionRecord): Buffer {
  return Buffer.from(`${record.a}\n${JSON.stringify(record.s)}\n${JSON.stringify(record.d)}`)
}

interface RawRecord {
  readonly a: number
  readonly s: string | null
  readonly dataJson: string
  readonly d: { [key: string]: Json }
}

/**
 * Records read from stored bytes, by the bytes' buffer. The hot tier hands out one buffer per stored record, so a hot
 * session is parsed once, not on every read (parsing 1 KiB of data on each read cost a fifth of a session GET).
 */
const decoded = new WeakMap<Uint8Array, RawRecord>()

/**
 * The record exactly as encode wrote it, or undefined for anything else: a record that does not parse as one of
 * cachecar's (written by another version, or by anyone with access to the shared tier) is no session at all, and its
 * text is never spliced into an answer.
 */
function decodeRaw(entry: Entry): RawRecord | undefined {
  if (entry.contentType !== RECORD_TYPE) return undefined
  const known = decoded.get(entry.value)
  if (known) return known
  const text = Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength).toString('utf8')
  const first = text.indexOf('\n')
  const second = first === -1 ? -1 : text.indexOf('\n', first + 1)
  if (second === -1 || !/^\d{1,15}$/.test(text.slice(0, first))) return undefined
  let s: unknown
  let d: unknown
  const dataJson = text.slice(second + 1)
  try {
    s = JSON.parse(text.slice(first + 1, second))
    d = JSON.parse(dataJson)
  } catch {
    return undefined
  }
  if (s !== null && (typeof s !== 'string' || s.length === 0 || s.length > MAX_SUBJECT_LENGTH)) return undefined
  if (!isJsonObject(d)) return undefined
  const record: RawRecord = { a: Number(text.slice(0, first)), s, dataJson, d }
  decoded.set(entry.value, record)
  return record
}

function toSession(id: string, entry: Entry, raw: RawRecord): Session {
  return {
    id,
    dataJson: raw.dataJson,
    subject: raw.s,
    expiresAt: entry.expiresAt,
    absoluteExpiresAt: raw.a,
    etag: entry.etag,
  }
}

/** The session an entry holds, or undefined when the entry is not a record cachecar wrote. */
function sessionOf(id: string, entry: Entry | undefined): Session | undefined {
  const raw = entry && decodeRaw(entry)
  return raw && toSession(id, entry, raw)
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
      const result = await this.#store.set(
        { namespace: SESSIONS, key: id, ...this.#input(record) },
        { ifNoneMatchAny: true },
      )
      if (result.status !== 'precondition-failed') {
        return {
          id,
          dataJson: JSON.stringify(data),
          subject,
          expiresAt: result.expiresAt,
          absoluteExpiresAt: record.a,
          etag: result.etag,
        }
      }
    }
  }

  /**
   * The session as get() answers it, when the store holds it in memory (Store.peek) and this read need not slide its
   * expiry; undefined sends the caller to get().
   */
  peek(id: string, touch: boolean): Session | undefined {
    const entry = this.#store.peek?.(SESSIONS, id)
    const record = entry && decodeRaw(entry)
    if (!entry || !record || (touch && this.#touchDue(entry, record))) return undefined
    return toSession(id, entry, record)
  }

  /** The live session, its idle expiry extended (unless `touch` is false) once enough of it has passed. */
  async get(id: string, touch: boolean): Promise<Session | undefined> {
    const entry = await this.#store.get(SESSIONS, id)
    const record = entry && decodeRaw(entry)
    if (!entry || !record) return undefined
    if (!touch || !this.#touchDue(entry, record)) return toSession(id, entry, record)
    // The same bytes again with a new expiry: nothing to parse or re-serialise.
    const touched = await this.#store.update(SESSIONS, id, (current) => {
      const currentRecord = decodeRaw(current)
      return (
        currentRecord && {
          value: current.value,
          contentType: current.contentType,
          tags: current.tags,
          ttlMs: this.#ttlUntil(currentRecord.a),
        }
      )
    })
    return touched.status === 'updated' || touched.status === 'unchanged' ? sessionOf(id, touched.entry) : undefined
  }

  /** Amortised sliding: the expiry is rewritten only once a share of the idle TTL has passed since the last write. */
  #touchDue(entry: Entry, record: RawRecord): boolean {
    const now = this.#now()
    const due = now - entry.writtenAt >= this.#settings.idleTtlMs * this.#settings.touchFraction
    return due && Math.min(now + this.#settings.idleTtlMs, record.a) > entry.expiresAt
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

  async #modify(
    id: string,
    ifMatch: readonly string[] | undefined,
    change: (record: SessionRecord) => SessionRecord | undefined,
  ): Promise<Update> {
    let foreign = false
    const result = await this.#store.update(
      SESSIONS,
      id,
      (current) => {
        const record = decodeRaw(current)
        if (!record) {
          foreign = true
          return undefined
        }
        const next = change(record)
        return next && this.#input(next)
      },
      ifMatch ? { ifMatch } : undefined,
    )
    if (foreign) return 'not-found'
    return 'entry' in result ? (sessionOf(id, result.entry) ?? 'not-found') : result.status
  }

  /** The store write for a record: idle TTL from now, never past the absolute lifetime. */
  #input(record: SessionRecord): Omit<SetInput, 'namespace' | 'key'> {
    return {
      value: encode(record),
      contentType: RECORD_TYPE,
      ttlMs: this.#ttlUntil(record.a),
      tags: record.s === null ? [] : [subjectTag(record.s)],
    }
  }

  /** The idle TTL from now, never past the absolute expiry. */
  #ttlUntil(absoluteExpiresAt: number): number {
    return Math.max(1, Math.min(this.#settings.idleTtlMs, absoluteExpiresAt - this.#now()))
  }

  async destroy(id: string): Promise<boolean> {
    return (await this.#store.delete(SESSIONS, id)) === 'deleted'
  }

  destroySubject(subject: string): Promise<number> {
    return this.#store.deleteTags([subjectTag(subject)])
  }

  /** A new ID for the same session; the old ID is gone in the same atomic step. */
  async rotate(id: string): Promise<Session | undefined> {
    for (;;) {
      const next = newSessionId()
      if (!(await this.get(id, false))) return undefined
      if (await this.#store.rename(SESSIONS, id, next)) return this.get(next, false)
    }
  }

  /** 413 material: session data over the configured size, measured as JSON. */
  #checkSize(data: Json): void {
    if (Buffer.byteLength(JSON.stringify(data)) > this.#settings.maxBytes) throw new SessionDataTooLarge()
  }
}
