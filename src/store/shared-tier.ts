// The shared tier on Valkey/Redis (ioredis): entries as hashes with the engine's own TTLs, compare-and-set writes in
// Lua, tag sets for purges, an invalidation channel, and a circuit breaker so an unhealthy server costs nothing.
import { createHash } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import { CircuitBreaker } from './circuit-breaker.ts'
import type { Entry, EntryInfo, IncrResult, ListOptions, PurgeScope } from './types.ts'

export interface SharedTierOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… (TLS, e.g. ElastiCache in-transit encryption). */
  readonly url: string
  /** Prepended to every key and the channel, so services can share one engine. */
  readonly prefix: string
  /** Per-command deadline; a slower answer counts as a failure. */
  readonly timeoutMs: number
  /** Identifies this process on the invalidation channel, so it skips its own messages. */
  readonly instanceId: string
  /** Namespaces whose keys are secrets (session IDs): kept in the engine under their SHA-256. */
  readonly secretKeys?: ReadonlySet<string>
  readonly onStateChange?: (up: boolean, reason: string) => void
  readonly onInvalidation?: (message: Invalidation) => void
  readonly onError?: (operation: string, error: Error) => void
}

/** What another instance changed; every receiver drops its near copies of it. */
export type Invalidation =
  | { readonly namespace: string; readonly keys: readonly string[] }
  | { readonly namespace: string; readonly prefix: string }
  | { readonly tags: readonly string[] }

/** The shared tier is down, open-circuited or failed this call. */
export class SharedTierUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SharedTierUnavailableError'
  }
}

/** Sentinel for `write`: the key must not hold a live entry. */
export const ABSENT = '-'

// Entries carry their expiry (field x) by cachecar's clock, and the engine expires them by a relative TTL, so clock
// skew between a task and the engine never shortens an entry; the scripts treat x <= now as absent.
const LIVE_ETAG = `
local function live_etag(key, now)
  local f = redis.call('HMGET', key, 'e', 'x')
  if f[1] and tonumber(f[2]) > tonumber(now) then return f[1] end
  return false
end
`

/** Purge notes carry the purging task's clock, checks the filling task's: a margin for the skew between them. */
const CLOCK_MARGIN_MS = 1000

// Purge notes (notePurge): p:k:<namespace>\0<key> and p:t:<tag> hold the time of the last purge of that key or tag,
// the sorted set p:n:<namespace> the prefixes purged, scored by time; all kept for PURGE_MEMORY_MS. A write that
// carries the time its value began to be fetched (since > 0) is refused when a purge reaching it was noted since
// then, or when it began so long ago that the notes may be gone. ARGV[base] = since, [base+1] the notes' key prefix,
// [base+2] namespace, [base+3] key, [base+4] memory ms, [base+5] now; the entry's tags follow from ARGV[first_tag].
const OVERTAKEN = `
local function overtaken(base, first_tag)
  local since = tonumber(ARGV[base])
  if since == 0 then return false end
  if since < tonumber(ARGV[base + 5]) - tonumber(ARGV[base + 4]) then return true end
  -- Notes carry each task's clock: a second of margin covers the skew between synchronised clocks.
  local from = since - ${CLOCK_MARGIN_MS}
  local p, ns, key = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local function noted(name)
    local at = redis.call('GET', name)
    return at and tonumber(at) >= from
  end
  if noted(p .. 'k:' .. ns .. '\\0' .. key) then return true end
  local cut = string.find(key, '\\0', 1, true)
  if cut and noted(p .. 'k:' .. ns .. '\\0' .. string.sub(key, 1, cut - 1)) then return true end
  for _, prefix in ipairs(redis.call('ZRANGEBYSCORE', p .. 'n:' .. ns, from, '+inf')) do
    if string.sub(key, 1, #prefix) == prefix then return true end
  end
  for i = first_tag, #ARGV do
    if noted(p .. 't:' .. ARGV[i]) then return true end
  end
  return false
end
`

// KEYS[1] entry; ARGV: expected etag ('' none, '-' absent), v, t, e, g, c, x, now, ttl ms, tag-set prefix, then the
// six purge-note arguments (OVERTAKEN), then tags… Returns 0 when the expectation failed, 1 when it created the
// entry, 2 when it replaced a live one, -2 when a purge overtook the value (nothing written).
const WRITE = `${LIVE_ETAG + OVERTAKEN}
if overtaken(11, 17) then return -2 end
local cur = live_etag(KEYS[1], ARGV[8])
if ARGV[1] == '-' then if cur then return 0 end
elseif ARGV[1] ~= '' then if cur ~= ARGV[1] then return 0 end end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 't', ARGV[3], 'e', ARGV[4], 'g', ARGV[5], 'c', ARGV[6], 'x', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
for i = 17, #ARGV do
  local set = ARGV[10] .. ARGV[i]
  redis.call('SADD', set, KEYS[1])
  if redis.call('PTTL', set) < tonumber(ARGV[9]) then redis.call('PEXPIRE', set, ARGV[9]) end
end
if cur then return 2 end
return 1`

// KEYS[1] entry; ARGV[1] expected etag ('' none), ARGV[2] now. Returns 1 deleted, 0 not found, -1 precondition failed.
const REMOVE = `${LIVE_ETAG}
local cur = live_etag(KEYS[1], ARGV[2])
if not cur then redis.call('DEL', KEYS[1]) return 0 end
if ARGV[1] ~= '' and cur ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1`

// KEYS[1] from, KEYS[2] to; ARGV[1] tag-set prefix, ARGV[2] now. Moves a live entry (TTL kept) and its tag memberships.
const RENAME = `${LIVE_ETAG}
if live_etag(KEYS[2], ARGV[2]) or not live_etag(KEYS[1], ARGV[2]) then return 0 end
local g = redis.call('HGET', KEYS[1], 'g') or '[]'
redis.call('RENAME', KEYS[1], KEYS[2])
for _, tag in ipairs(cjson.decode(g)) do
  redis.call('SREM', ARGV[1] .. tag, KEYS[1])
  redis.call('SADD', ARGV[1] .. tag, KEYS[2])
end
return 1`

// The ETag cachecar derives from bytes (etagOf: SHA-1, base64url, quoted), computed inside the engine.
const ETAG_OF = `
local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
local function etag_of(value)
  local hex = redis.sha1hex(value)
  local out = {}
  for i = 1, #hex, 6 do
    local chunk = hex:sub(i, i + 5)
    local n = tonumber(chunk, 16) * 16 ^ (6 - #chunk)
    local chars = math.ceil(#chunk * 4 / 6)
    for j = 1, chars do
      local d = math.floor(n / 64 ^ (4 - j)) % 64
      out[#out + 1] = B64:sub(d + 1, d + 1)
    end
  end
  return '"' .. table.concat(out) .. '"'
end
`

// KEYS[1] counter; ARGV[1] by, ARGV[2] now, ARGV[3] ttl ms for a new counter. Returns {status, value, etag, expires at}.
const INCR = `${LIVE_ETAG + ETAG_OF}
local MAX = 9007199254740991
local by, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'v', 'x')
if not f[1] or tonumber(f[2]) <= now then
  local v = string.format('%.0f', by)
  local x = string.format('%.0f', now + tonumber(ARGV[3]))
  local e = etag_of(v)
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', v, 't', 'text/plain', 'e', e, 'g', '[]', 'c', ARGV[2], 'x', x)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'ok', v, e, x}
end
local cur = f[1]
if #cur > 20 or not string.match(cur, '^%-?%d+$') or math.abs(tonumber(cur)) > MAX then return {'not-a-counter'} end
local n = tonumber(cur) + by
if math.abs(n) > MAX then return {'overflow'} end
local v = string.format('%.0f', n)
local e = etag_of(v)
redis.call('HSET', KEYS[1], 'v', v, 'e', e)
return {'ok', v, e, f[2]}`

// KEYS[1] lock; ARGV[1] holder. Deletes the lock only if this holder still has it (it may have expired and been
// taken by another instance meanwhile).
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** What LOCK answers: this instance took the key's lock, another holds it, or the key is marked a pass. */
export type LockState = 'acquired' | 'held' | 'pass'

// A lock holds its holder's instance ID (a UUID); this value instead says "the answer was not storable: don't wait".
const PASS_MARK = 'pass'

// KEYS[1] lock; ARGV[1] holder, ARGV[2] ms. Takes a free lock; else says whether it is held or is a pass marker.
const LOCK = `
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'acquired'
end
if v == '${PASS_MARK}' then return 'pass' end
return 'held'`

// KEYS[1] lock; ARGV[1] holder, ARGV[2] ms. The holder's lock (or none) becomes a pass marker for ARGV[2] ms.
const PASS = `
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], '${PASS_MARK}', 'PX', ARGV[2])
return 1`

// KEYS[1] tag set; ARGV[1] tag. Deletes members that still carry the tag (a rewrite may have dropped it).
const REMOVE_TAG = `
local removed = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local g = redis.call('HGET', member, 'g')
  if g then
    for _, tag in ipairs(cjson.decode(g)) do
      if tag == ARGV[1] then
        redis.call('DEL', member)
        removed = removed + 1
        break
      end
    end
  end
end
redis.call('DEL', KEYS[1])
return removed`

// ARGV: the six purge-note arguments (OVERTAKEN), then tags. 1 when a purge overtook the value, else 0.
const CHECK_OVERTAKEN = `${OVERTAKEN}
if overtaken(1, 7) then return 1 end
return 0`

// ARGV[1] notes' key prefix, [2] now, [3] memory ms, [4] kind ('k' key, 'n' prefix, 't' tags), [5] namespace, then
// the keys, prefixes or tags. Notes a purge before it runs (see OVERTAKEN).
const NOTE_PURGE = `
local p, now, ms, kind, ns = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
for i = 6, #ARGV do
  if kind == 'k' then redis.call('SET', p .. 'k:' .. ns .. '\\0' .. ARGV[i], now, 'PX', ms)
  elseif kind == 't' then redis.call('SET', p .. 't:' .. ARGV[i], now, 'PX', ms)
  else
    local set = p .. 'n:' .. ns
    redis.call('ZADD', set, now, ARGV[i])
    redis.call('ZREMRANGEBYSCORE', set, '-inf', tonumber(now) - tonumber(ms))
    redis.call('PEXPIRE', set, ms)
  end
end
return 1`

interface Commands {
  cachecarWrite(...args: (string | Buffer | number)[]): Promise<number>
  cachecarRemove(key: string, expected: string, now: number): Promise<number>
  cachecarRename(from: string, to: string, tagPrefix: string, now: number): Promise<number>
  cachecarRemoveTag(set: string, tag: string): Promise<number>
  cachecarIncr(key: string, by: number, now: number, ttlMs: number): Promise<string[]>
  cachecarUnlock(key: string, holder: string): Promise<number>
  cachecarLock(key: string, holder: string, ms: number): Promise<LockState>
  cachecarPass(key: string, holder: string, ms: number): Promise<number>
  cachecarOvertaken(...args: (string | number)[]): Promise<number>
  cachecarNotePurge(...args: (string | number)[]): Promise<number>
}
type Client = Redis & Commands

/**
 * How long purge notes are kept: a fill that began longer ago than this is refused outright (its purges may be
 * forgotten). Far beyond any fill a body timeout lets live; the notes are a few bytes per purged key, prefix or tag.
 */
const PURGE_MEMORY_MS = 10 * 60_000

/** Consecutive failures that open the circuit; while open, calls fail at once instead of waiting out a timeout. */
const FAILURES_TO_OPEN = 3

export class SharedTier {
  readonly #options: SharedTierOptions
  readonly #client: Client
  readonly #subscriber: Redis
  readonly #channel: string
  #connected = false
  readonly #circuit = new CircuitBreaker({ failuresToOpen: FAILURES_TO_OPEN, firstOpenMs: 250, maxOpenMs: 30_000 })
  #closed = false

  constructor(options: SharedTierOptions) {
    this.#options = options
    this.#channel = `${options.prefix}invalidate`
    const common: RedisOptions = {
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1000, options.timeoutMs),
      // Fail at once while disconnected, never queue: a request must not wait for the engine to come back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect with capped exponential backoff and jitter, for as long as the process runs.
      retryStrategy: (times) => Math.min(5000, 50 * 2 ** Math.min(times, 7)) * (0.5 + Math.random() / 2),
      lazyConnect: true,
    }
    this.#client = new Redis(options.url, common) as Client
    this.#client.defineCommand('cachecarWrite', { numberOfKeys: 1, lua: WRITE })
    this.#client.defineCommand('cachecarRemove', { numberOfKeys: 1, lua: REMOVE })
    this.#client.defineCommand('cachecarRename', { numberOfKeys: 2, lua: RENAME })
    this.#client.defineCommand('cachecarRemoveTag', { numberOfKeys: 1, lua: REMOVE_TAG })
    this.#client.defineCommand('cachecarIncr', { numberOfKeys: 1, lua: INCR })
    this.#client.defineCommand('cachecarUnlock', { numberOfKeys: 1, lua: UNLOCK })
    this.#client.defineCommand('cachecarLock', { numberOfKeys: 1, lua: LOCK })
    this.#client.defineCommand('cachecarPass', { numberOfKeys: 1, lua: PASS })
    this.#client.defineCommand('cachecarOvertaken', { numberOfKeys: 0, lua: CHECK_OVERTAKEN })
    this.#client.defineCommand('cachecarNotePurge', { numberOfKeys: 0, lua: NOTE_PURGE })
    // The subscriber has no command deadline: it idles on the channel by design.
    this.#subscriber = new Redis(options.url, { ...common, commandTimeout: undefined, enableOfflineQueue: true })
    this.#client.on('ready', () => this.#setConnected(true, 'connected'))
    this.#client.on('close', () => this.#setConnected(false, 'connection closed'))
    // ioredis emits 'error' on every failed (re)connect; without a listener it would crash the process.
    this.#client.on('error', (error: Error) => this.#options.onError?.('connection', error))
    this.#subscriber.on('error', (error: Error) => this.#options.onError?.('subscriber', error))
    this.#subscriber.on('message', (channel: string, message: string) => this.#received(channel, message))
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.#channel).catch((error: Error) => this.#options.onError?.('subscribe', error))
    })
    this.#client.connect().catch(() => {}) // reported through 'error'; reconnects by retryStrategy
    this.#subscriber.connect().catch(() => {})
  }

  /** Connected and the circuit closed: calls are attempted. */
  get up(): boolean {
    return this.#connected && !this.#circuit.open
  }

  get state(): { up: boolean; connected: boolean; circuitOpenMs: number } {
    return { up: this.up, connected: this.#connected, circuitOpenMs: this.#circuit.openForMs }
  }

  /** Resolves once connected, or after `timeoutMs` (false): starting never waits longer for the shared tier. */
  async waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.#connected) return true
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady)
        resolve(false)
      }, timeoutMs)
      const onReady = () => {
        clearTimeout(timer)
        resolve(true)
      }
      this.#client.once('ready', onReady)
    })
  }

  async read(namespace: string, key: string, now: number): Promise<Entry | undefined> {
    const fields = await this.#call('read', (c) => c.hgetallBuffer(this.#entryKey(namespace, key)))
    return entryFrom(namespace, key, fields, now)
  }

  /**
   * Writes `entry` (expiry = entry.expiresAt); with `expected`, only if the current etag is that one or ABSENT holds.
   * Says whether it wrote, and whether a live entry was there before.
   */
  async write(
    entry: Entry,
    expected: string,
    now: number,
    since = 0,
  ): Promise<'created' | 'replaced' | 'not-written' | 'overtaken'> {
    const written = await this.#call('write', (c) => c.cachecarWrite(...this.#writeArgs(entry, expected, now, since)))
    return written === 2 ? 'replaced' : written === 1 ? 'created' : written === -2 ? 'overtaken' : 'not-written'
  }

  /**
   * Unconditional writes in one MULTI: all land or none does, except entries a purge overtook (`since` > 0), which
   * are skipped; their keys are returned.
   */
  async writeAll(entries: readonly Entry[], now: number, since = 0): Promise<string[]> {
    return await this.#call('write', async (c) => {
      const multi = c.multi() as unknown as {
        cachecarWrite(...args: unknown[]): void
        exec(): Promise<[Error | null, unknown][] | null>
      }
      for (const entry of entries) multi.cachecarWrite(...this.#writeArgs(entry, '', now, since))
      const results = await multi.exec()
      const failed = results?.find(([error]) => error)
      if (!results || failed) throw failed?.[0] ?? new Error('MULTI aborted')
      return entries.filter((_, i) => results[i]![1] === -2).map((entry) => entry.key)
    })
  }

  /** Whether a purge noted since `since` reaches this entry (for values kept in one task's store only). */
  async overtaken(
    namespace: string,
    key: string,
    tags: readonly string[],
    since: number,
    now: number,
  ): Promise<boolean> {
    return (
      (await this.#call('read', (c) =>
        c.cachecarOvertaken(...this.#purgeArgs(namespace, key, since, now), ...tags),
      )) === 1
    )
  }

  /** Notes a purge before it runs, so values fetched before it are refused by every task's later writes. */
  async notePurge(scope: PurgeScope, now: number): Promise<void> {
    const [kind, namespace, items] =
      'tags' in scope
        ? ['t', '', scope.tags]
        : 'prefix' in scope
          ? ['n', scope.namespace, [scope.prefix]]
          : ['k', scope.namespace, [scope.key]]
    if (items.length === 0) return
    await this.#call('delete', (c) =>
      c.cachecarNotePurge(this.#purgeNotes(), now, PURGE_MEMORY_MS, kind, namespace, ...items),
    )
  }

  async remove(
    namespace: string,
    key: string,
    expected: string,
    now: number,
  ): Promise<'deleted' | 'not-found' | 'precondition-failed'> {
    const result = await this.#call('delete', (c) => c.cachecarRemove(this.#entryKey(namespace, key), expected, now))
    return result === 1 ? 'deleted' : result === 0 ? 'not-found' : 'precondition-failed'
  }

  /** Adds `by` to a decimal counter atomically in the engine (no compare-and-set rounds under contention). */
  async incr(namespace: string, key: string, by: number, ttlMs: number, now: number): Promise<IncrResult> {
    const [status, value, etag, expiresAt] = await this.#call('incr', (c) =>
      c.cachecarIncr(this.#entryKey(namespace, key), by, now, ttlMs),
    )
    if (status === 'not-a-counter' || status === 'overflow') return { status }
    return { status: 'ok', value: Number(value), etag: etag!, expiresAt: Number(expiresAt) }
  }

  async rename(namespace: string, from: string, to: string, now: number): Promise<boolean> {
    const moved = await this.#call('rename', (c) =>
      c.cachecarRename(this.#entryKey(namespace, from), this.#entryKey(namespace, to), this.#tagPrefix(), now),
    )
    return moved === 1
  }

  /** Deletes every entry of `namespace` whose key starts with `prefix` (a SCAN: cost grows with the keyspace). */
  async removePrefix(namespace: string, prefix: string): Promise<number> {
    let removed = 0
    for (const keys of await this.#scan(namespace, prefix)) {
      if (keys.length > 0) removed += await this.#call('delete', (c) => c.unlink(...keys))
    }
    return removed
  }

  async removeTags(tags: readonly string[]): Promise<number> {
    let removed = 0
    for (const tag of new Set(tags))
      removed += await this.#call('delete', (c) => c.cachecarRemoveTag(this.#tagPrefix() + tag, tag))
    return removed
  }

  /** Keys of a namespace in order, without values (a SCAN, then the metadata of the page). */
  async list(namespace: string, options: ListOptions, now: number): Promise<EntryInfo[]> {
    const base = this.#entryKey(namespace, '')
    const keys = (await this.#scan(namespace, options.prefix)).flat().map((redisKey) => redisKey.slice(base.length))
    const after = options.after ?? ''
    const page = [...new Set(keys)].filter((key) => key > after).sort()
    const infos: EntryInfo[] = []
    for (const key of page) {
      const fields = await this.#call('read', (c) =>
        c.hmgetBuffer(this.#entryKey(namespace, key), 't', 'e', 'g', 'c', 'x', 'v'),
      )
      const [t, e, g, c, x, v] = fields
      if (!t || !e || !c || !x || !v) continue
      const entry = entryFrom(namespace, key, { t, e, g: g ?? Buffer.alloc(0), c, x, v }, now)
      if (!entry) continue
      const { value: _value, ...info } = entry
      infos.push(info)
      if (infos.length === options.limit) break
    }
    return infos
  }

  /** Takes the fleet-wide coalescing lock on one key for `ttlMs`, unless another instance holds it or marked a pass. */
  async tryLock(namespace: string, key: string, ttlMs: number): Promise<LockState> {
    return await this.#call('lock', (c) =>
      c.cachecarLock(this.#lockKey(namespace, key), this.#options.instanceId, ttlMs),
    )
  }

  /** Turns this task's lock on the key into a pass marker for `ttlMs`: other tasks stop waiting on the key. */
  async markPass(namespace: string, key: string, ttlMs: number): Promise<void> {
    await this.#call('lock', (c) => c.cachecarPass(this.#lockKey(namespace, key), this.#options.instanceId, ttlMs))
  }

  async unlock(namespace: string, key: string): Promise<void> {
    await this.#call('lock', (c) => c.cachecarUnlock(this.#lockKey(namespace, key), this.#options.instanceId))
  }

  /** The entry if it is there now, and whether someone still holds the key's lock (one round trip; a pass is not). */
  async readOrLocked(
    namespace: string,
    key: string,
    now: number,
  ): Promise<{ entry: Entry | undefined; locked: boolean }> {
    const [fields, lock] = await this.#call('read', (c) =>
      Promise.all([c.hgetallBuffer(this.#entryKey(namespace, key)), c.get(this.#lockKey(namespace, key))]),
    )
    return { entry: entryFrom(namespace, key, fields, now), locked: lock !== null && lock !== PASS_MARK }
  }

  /** Tells every other instance to drop its near copies. Best effort: a lost message leaves copies until their TTL. */
  async publish(message: Invalidation): Promise<void> {
    await this.#call('publish', (c) =>
      c.publish(this.#channel, JSON.stringify({ from: this.#options.instanceId, ...message })),
    )
  }

  async ping(): Promise<void> {
    await this.#call('ping', (c) => c.ping())
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#client.disconnect()
    this.#subscriber.disconnect()
  }

  async #call<T>(operation: string, run: (client: Client) => Promise<T>): Promise<T> {
    if (!this.up)
      throw new SharedTierUnavailableError(
        this.#connected ? 'shared tier circuit open after repeated failures' : 'shared tier not connected',
      )
    try {
      const result = await run(this.#client)
      if (this.#circuit.succeeded())
        this.#options.onStateChange?.(true, 'circuit closed: the shared tier answered again')
      return result
    } catch (error) {
      this.#options.onError?.(operation, error as Error)
      if (this.#circuit.failed()) {
        this.#options.onStateChange?.(
          false,
          `circuit open after ${FAILURES_TO_OPEN} failures: ${(error as Error).message}`,
        )
      }
      throw new SharedTierUnavailableError(`shared tier ${operation} failed: ${(error as Error).message}`, {
        cause: error,
      })
    }
  }

  #setConnected(connected: boolean, reason: string): void {
    if (this.#connected === connected || this.#closed) return
    this.#connected = connected
    if (connected) this.#circuit.reset()
    this.#options.onStateChange?.(connected, reason)
  }

  #received(channel: string, raw: string): void {
    if (channel !== this.#channel) return
    let message: unknown
    try {
      message = JSON.parse(raw)
    } catch {
      return
    }
    if (!isInvalidation(message) || (message as { from?: unknown }).from === this.#options.instanceId) return
    this.#options.onInvalidation?.(message)
  }

  #writeArgs(entry: Entry, expected: string, now: number, since: number): (string | Buffer | number)[] {
    return [
      this.#entryKey(entry.namespace, entry.key),
      expected,
      Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength),
      entry.contentType,
      entry.etag,
      tagField(entry.tags),
      entry.writtenAt,
      entry.expiresAt,
      now,
      Math.max(1, Math.ceil(entry.expiresAt - now)),
      this.#tagPrefix(),
      ...this.#purgeArgs(entry.namespace, entry.key, since, now),
      ...entry.tags,
    ]
  }

  /** The six purge-note arguments of OVERTAKEN; a secret namespace's key is never sent (no purge is noted there). */
  #purgeArgs(namespace: string, key: string, since: number, now: number): (string | number)[] {
    const checked = since > 0 && !this.#options.secretKeys?.has(namespace)
    return [checked ? since : 0, this.#purgeNotes(), namespace, checked ? key : '', PURGE_MEMORY_MS, now]
  }

  #purgeNotes(): string {
    return `${this.#options.prefix}p:`
  }

  #entryKey(namespace: string, key: string): string {
    const stored = this.#options.secretKeys?.has(namespace) ? createHash('sha256').update(key).digest('hex') : key
    return `${this.#options.prefix}e:${namespace}\u0000${stored}`
  }

  #lockKey(namespace: string, key: string): string {
    return `${this.#options.prefix}l:${this.#entryKey(namespace, key).slice(this.#options.prefix.length)}`
  }

  #tagPrefix(): string {
    return `${this.#options.prefix}t:`
  }

  async #scan(namespace: string, prefix: string): Promise<string[][]> {
    const pattern = `${globEscape(this.#entryKey(namespace, '') + prefix)}*`
    const batches: string[][] = []
    let cursor = '0'
    do {
      const [next, keys] = await this.#call('scan', (c) => c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000))
      batches.push(keys)
      cursor = next
    } while (cursor !== '0')
    return batches
  }
}

/** Tags as a JSON array: the scripts read it with cjson, so a tag may hold any character (session subjects do). */
function tagField(tags: readonly string[]): string {
  return JSON.stringify(tags)
}

function tagsFrom(field: Buffer | undefined): string[] {
  try {
    const tags: unknown = JSON.parse(field?.toString('utf8') || '[]')
    return Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === 'string') : []
  } catch {
    return []
  }
}

function entryFrom(namespace: string, key: string, fields: Record<string, Buffer>, now: number): Entry | undefined {
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

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

function isInvalidation(message: unknown): message is Invalidation {
  if (typeof message !== 'object' || message === null) return false
  const m = message as Record<string, unknown>
  const strings = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string')
  if (typeof m.namespace === 'string') return strings(m.keys) || typeof m.prefix === 'string'
  return strings(m.tags)
}
