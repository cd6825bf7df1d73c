// The shared tier's Lua scripts: each runs atomically in the engine, so compare-and-set, tag sets and purge notes
// never interleave with another task's commands.
import type { Redis } from 'ioredis'

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
export const PASS_MARK = 'pass'

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
export type Client = Redis & Commands

/** `redis` with every script above defined as a command. */
export function withScripts(redis: Redis): Client {
  redis.defineCommand('cachecarWrite', { numberOfKeys: 1, lua: WRITE })
  redis.defineCommand('cachecarRemove', { numberOfKeys: 1, lua: REMOVE })
  redis.defineCommand('cachecarRename', { numberOfKeys: 2, lua: RENAME })
  redis.defineCommand('cachecarRemoveTag', { numberOfKeys: 1, lua: REMOVE_TAG })
  redis.defineCommand('cachecarIncr', { numberOfKeys: 1, lua: INCR })
  redis.defineCommand('cachecarUnlock', { numberOfKeys: 1, lua: UNLOCK })
  redis.defineCommand('cachecarLock', { numberOfKeys: 1, lua: LOCK })
  redis.defineCommand('cachecarPass', { numberOfKeys: 1, lua: PASS })
  redis.defineCommand('cachecarOvertaken', { numberOfKeys: 0, lua: CHECK_OVERTAKEN })
  redis.defineCommand('cachecarNotePurge', { numberOfKeys: 0, lua: NOTE_PURGE })
  return redis as Client
}
