// Stores and finds upstream responses in the Store: primary key = path + query as received, Vary as a secondary key.
import { httpNamespace, surrogateTag } from '../store/keyspace.ts'
import { OvertakenByPurgeError, type AbandonReason, type Entry, type PurgeScope, type Store } from '../store/types.ts'
import { responseFields } from './policy/caching-fields.ts'
import { getter } from './headers.ts'
import { currentAgeMs, neverStored, varyKey, type GetHeader, type NotStorable } from './policy/policy.ts'
import { PurgeLog, type PurgeMatch } from './purge-log.ts'
import { RESPONSE_TYPE, VARY_TYPE, decodeResponse, encodeResponse, type StoredResponse } from './record.ts'

const VARIANT = '\u0000'

export type Lookup =
  /** `source`: found in the shared tier, or after waiting for another task's fetch (Entry.source). */
  | { readonly kind: 'hit'; readonly response: StoredResponse; readonly source?: 'shared' | 'collapsed' }
  | { readonly kind: 'uri-miss' }
  /** `variantKey`: the store key of the variant that missed (where a coalescing lock may have been taken). */
  | { readonly kind: 'vary-miss'; readonly variantKey: string }

function hit(entry: Entry): Lookup {
  const response = decodeResponse(entry.value)
  return entry.source ? { kind: 'hit', response, source: entry.source } : { kind: 'hit', response }
}

/** The store key of the variant `request` selects, from the Vary field names stored under the URL's key. */
function variantKeyOf(key: string, varySpec: Uint8Array, request: GetHeader): string {
  const vary = JSON.parse(Buffer.from(varySpec).toString('utf8')) as string[]
  return key + VARIANT + varyKey(vary, request)
}

/** The guard at every write of a stored response: what no shared cache may keep is never written, whatever called. */
function neverStoredAsIs(response: StoredResponse): NotStorable | undefined {
  return neverStored(response.facts.status, responseFields(getter(response.headers)))
}

/**
 * Where a fill began: the position in this task's purge log and the time. save() refuses the response
 * (OvertakenByPurgeError) when a matching purge was made since, in this task (the log) or, on a shared store, in any.
 */
export interface FillStart {
  readonly position: number
  readonly at: number
}

export class ResponseCache {
  readonly #store: Store
  readonly #now: () => number
  readonly #purges = new PurgeLog()

  constructor(store: Store, now: () => number = Date.now) {
    this.#store = store
    this.#now = now
  }

  static namespace(upstream: string): string {
    return httpNamespace(upstream)
  }

  /**
   * The lookup, when the store can answer it from memory at once (Store.peek); undefined when lookup() must ask. A
   * hit served this way skips every await of the hot path.
   */
  peek(upstream: string, key: string, request: GetHeader): Lookup | undefined {
    if (!this.#store.peek) return undefined
    const ns = ResponseCache.namespace(upstream)
    const entry = this.#store.peek(ns, key)
    if (!entry) return undefined
    if (entry.contentType !== VARY_TYPE) return hit(entry)
    const variant = this.#store.peek(ns, variantKeyOf(key, entry.value, request))
    return variant && hit(variant)
  }

  async lookup(upstream: string, key: string, request: GetHeader): Promise<Lookup> {
    const ns = ResponseCache.namespace(upstream)
    const entry = await this.#store.get(ns, key)
    if (!entry) return { kind: 'uri-miss' }
    if (entry.contentType !== VARY_TYPE) return hit(entry)
    const variantKey = variantKeyOf(key, entry.value, request)
    const variant = await this.#store.get(ns, variantKey)
    return variant ? hit(variant) : { kind: 'vary-miss', variantKey }
  }

  /** Noted by a fill before it asks the upstream, and handed to save(). */
  fillStart(): FillStart {
    return { position: this.#purges.position(), at: this.#now() }
  }

  /**
   * For an answer stored right after this task's own invalidation of its URL (a POST's, RFC 9110 §9.3.3): purges in
   * this task after that one overtake it. The shared tier cannot tell this task's own purge note from another's
   * within its clock margin, so the answer is written there unguarded (at 0): a purge from another task racing the
   * write by milliseconds may leave it stored.
   */
  fillStartAfterOwnPurge(): FillStart {
    return { position: this.#purges.position(), at: 0 }
  }

  /**
   * Stores `response` as the variant `request` selects; a response without Vary replaces every variant.
   * `replacesVariants` false says the lookup found no Vary spec, saving a delete per miss. `since` is where the fill
   * began: a matching purge since then means it is not stored (OvertakenByPurgeError). The store runs a purge after
   * the writes issued before it, so checking when each write is issued is enough.
   */
  async save(
    upstream: string,
    key: string,
    request: GetHeader,
    response: StoredResponse,
    ttlMs: number,
    since: FillStart,
    replacesVariants = true,
  ): Promise<void> {
    const ns = ResponseCache.namespace(upstream)
    const never = neverStoredAsIs(response)
    if (never) throw new Error(`refused to store a response no shared cache may keep (${never})`)
    const overtaken = () => this.#purges.overtaken(since.position, upstream, key, response.facts.surrogateKeys)
    if (overtaken()) throw new OvertakenByPurgeError()
    const unlessPurgedSince = since.at
    const tags = response.facts.surrogateKeys.map(surrogateTag)
    const value = encodeResponse(response)
    const vary = response.facts.vary
    if (vary.length === 0) {
      await this.#store.set({ namespace: ns, key, value, contentType: RESPONSE_TYPE, ttlMs, tags, unlessPurgedSince })
      // Variants stored earlier under a Vary spec are now unreachable: drop them (only when there were any).
      if (replacesVariants) await this.#store.deletePrefix(ns, key + VARIANT)
      return
    }
    const spec = await this.#store.get(ns, key)
    if (overtaken()) throw new OvertakenByPurgeError()
    const specTtl = spec?.contentType === VARY_TYPE ? Math.max(ttlMs, spec.expiresAt - this.#now()) : ttlMs
    await this.#store.setMany([
      { namespace: ns, key, value: Buffer.from(JSON.stringify(vary)), contentType: VARY_TYPE, ttlMs: specTtl },
      {
        namespace: ns,
        key: key + VARIANT + varyKey(vary, request),
        value,
        contentType: RESPONSE_TYPE,
        ttlMs,
        tags,
        unlessPurgedSince,
      },
    ])
  }

  /**
   * This task went upstream for `key` (a URL, or a variant's key from a vary-miss) and will store nothing there: other
   * tasks waiting on it need not wait.
   */
  async abandon(upstream: string, key: string, reason: AbandonReason): Promise<void> {
    await this.#store.abandon?.(ResponseCache.namespace(upstream), key, reason)
  }

  /** Removes every stored variant of one URL. */
  async invalidate(upstream: string, key: string): Promise<number> {
    const ns = ResponseCache.namespace(upstream)
    await this.#notePurge((u, k) => u === upstream && k === key, { namespace: ns, key })
    const removed = (await this.#store.delete(ns, key)) === 'deleted' ? 1 : 0
    return removed + (await this.#store.deletePrefix(ns, key + VARIANT))
  }

  /** Removes every stored URL of an upstream whose path starts with `prefix`. */
  async purgePrefix(upstream: string, prefix: string): Promise<number> {
    const ns = ResponseCache.namespace(upstream)
    await this.#notePurge((u, k) => u === upstream && k.startsWith(prefix), { namespace: ns, prefix })
    return this.#store.deletePrefix(ns, prefix)
  }

  /**
   * Soft purge: marks every stored variant of `key` (or of every key starting with it, when `prefix`) as stale
   * now, keeping the bytes, so the next request revalidates (or stale-while-revalidate refreshes) without a stampede.
   */
  async markStale(upstream: string, key: string, prefix: boolean): Promise<number> {
    const ns = ResponseCache.namespace(upstream)
    await this.#notePurge(
      (u, k) => u === upstream && (prefix ? k.startsWith(key) : k === key),
      prefix ? { namespace: ns, prefix: key } : { namespace: ns, key },
    )
    const now = this.#now()
    let marked = 0
    let after: string | undefined
    for (;;) {
      const page = await this.#store.list(ns, { prefix: key, limit: 500, ...(after !== undefined && { after }) })
      for (const info of page) {
        after = info.key
        if (info.contentType !== RESPONSE_TYPE) continue
        if (!prefix && info.key !== key && !info.key.startsWith(key + VARIANT)) continue
        const entry = await this.#store.get(ns, info.key)
        if (!entry) continue
        const stored = decodeResponse(entry.value)
        if (neverStoredAsIs(stored)) {
          await this.#store.delete(ns, info.key)
          continue
        }
        const facts = {
          ...stored.facts,
          freshnessMs: Math.min(stored.facts.freshnessMs, currentAgeMs(stored.facts, now)),
        }
        await this.#store.set({
          ...entry,
          ttlMs: Math.max(1000, entry.expiresAt - now),
          value: encodeResponse({ ...stored, facts }),
        })
        marked++
      }
      if (page.length < 500) return marked
    }
  }

  async purgeSurrogateKeys(keys: readonly string[]): Promise<number> {
    const tags = keys.map(surrogateTag)
    await this.#notePurge((_u, _k, surrogateKeys) => surrogateKeys.some((k) => keys.includes(k)), { tags })
    return this.#store.deleteTags(tags)
  }

  /**
   * Before a purge runs: fills in flight in this task that it reaches will not be stored (the log), and a shared
   * store learns of it so fills in other tasks will not be either (a URL's note reaches its Vary variants too).
   */
  async #notePurge(matches: PurgeMatch, scope: PurgeScope): Promise<void> {
    this.#purges.record(matches)
    await this.#store.notePurge?.(scope)
  }
}
