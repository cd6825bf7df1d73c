// Cross-task coalescing against a fake shared tier: who goes upstream, who waits and for how long, what ends a wait.
// (test/system/shared-tier.test.ts covers the same through two real tasks and a real engine.)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type CoalescingLocks, CrossTaskCoalescing, PASS_MS } from '../../src/store/shared/coalescing.ts'
import type { LockState } from '../../src/store/shared/scripts.ts'
import type { Entry } from '../../src/store/types.ts'

class Unavailable extends Error {}

/** An engine with one task's view: a lock per key held by someone, entries other tasks wrote. */
class FakeLocks implements CoalescingLocks {
  readonly held = new Map<string, string>()
  readonly entries = new Map<string, Entry>()
  readonly calls: string[] = []
  failWith: Error | undefined
  async tryLock(namespace: string, key: string): Promise<LockState> {
    this.calls.push(`tryLock ${key}`)
    if (this.failWith) throw this.failWith
    const holder = this.held.get(`${namespace}/${key}`)
    if (holder === 'pass') return 'pass'
    if (holder) return 'held'
    this.held.set(`${namespace}/${key}`, 'me')
    return 'acquired'
  }
  async readOrLocked(namespace: string, key: string) {
    this.calls.push(`poll ${key}`)
    return { entry: this.entries.get(`${namespace}/${key}`), locked: this.held.has(`${namespace}/${key}`) }
  }
  async markPass(namespace: string, key: string, ttlMs: number): Promise<void> {
    this.calls.push(`pass ${key} ${ttlMs}`)
    this.held.set(`${namespace}/${key}`, 'pass')
  }
  async unlock(namespace: string, key: string): Promise<void> {
    this.calls.push(`unlock ${key}`)
    if (this.failWith) throw this.failWith
    this.held.delete(`${namespace}/${key}`)
  }
}

const entry = (key: string): Entry => ({
  namespace: 'ns',
  key,
  value: Buffer.from('stored'),
  contentType: 'text/plain',
  etag: '"e"',
  tags: [],
  writtenAt: 0,
  expiresAt: Date.now() + 60_000,
  size: 6,
})

function setup(coalesceMs = 2000) {
  const locks = new FakeLocks()
  const outcomes: string[] = []
  const coalescing = new CrossTaskCoalescing(locks, {
    coalesceMs,
    now: Date.now,
    outcome: (o) => outcomes.push(o),
    unavailable: (error) => error instanceof Unavailable,
  })
  return { locks, outcomes, coalescing }
}

test('the first miss takes the lock and goes upstream; this task never waits on its own lock', async () => {
  const { locks, outcomes, coalescing } = setup()
  assert.is(await coalescing.leadOrWait('ns', 'k'), undefined)
  assert.is(await coalescing.leadOrWait('ns', 'k'), undefined)
  assert.equal(locks.calls, ['tryLock k'], 'the second miss did not ask the engine again')
  assert.equal(outcomes, ['lead'])
})

test('a miss on a key another task is fetching waits for its entry; misses of one key share one wait', async () => {
  const { locks, outcomes, coalescing } = setup()
  locks.held.set('ns/k', 'other task')
  const waits = Array.from({ length: 20 }, () => coalescing.leadOrWait('ns', 'k'))
  await new Promise((resolve) => setTimeout(resolve, 35))
  locks.entries.set('ns/k', entry('k'))
  const found = await Promise.all(waits)
  assert.ok(
    found.every((e) => e?.key === 'k'),
    'every waiting request got the stored entry',
  )
  assert.is(locks.calls.filter((c) => c === 'tryLock k').length, 1)
  assert.ok(
    locks.calls.filter((c) => c === 'poll k').length <= 6,
    `polled ${locks.calls.length - 1} times for 20 requests`,
  )
  assert.equal(outcomes, ['wait'])
})

test('a wait ends at once when the lock goes without an entry, and after the coalescing time at most', async () => {
  const { locks, coalescing } = setup(200)
  locks.held.set('ns/gone', 'other task')
  const gone = coalescing.leadOrWait('ns', 'gone')
  locks.held.delete('ns/gone')
  assert.is(await gone, undefined)
  locks.held.set('ns/stuck', 'other task')
  const started = performance.now()
  assert.is(await coalescing.leadOrWait('ns', 'stuck'), undefined)
  const waited = performance.now() - started
  assert.ok(waited >= 190 && waited < 1000, `waited ${waited.toFixed(0)} ms for a 200 ms lock`)
})

test('a key marked pass goes upstream at once', async () => {
  const { locks, outcomes, coalescing } = setup()
  locks.held.set('ns/k', 'pass')
  assert.is(await coalescing.leadOrWait('ns', 'k'), undefined)
  assert.equal(outcomes, ['pass'])
  assert.ok(!locks.calls.some((c) => c.startsWith('poll')))
})

test('with the shared tier down a miss goes upstream alone; any other failure is not hidden', async () => {
  const { locks, coalescing } = setup()
  locks.failWith = new Unavailable('down')
  assert.is(await coalescing.leadOrWait('ns', 'k'), undefined)
  locks.failWith = new TypeError('a bug')
  try {
    await coalescing.leadOrWait('ns', 'k2')
    assert.unreachable('the bug was swallowed')
  } catch (error) {
    assert.instance(error, TypeError)
  }
})

test('release unlocks only keys this task holds; pass marks only those; a failed unlock does not fail the write', async () => {
  const { locks, coalescing } = setup()
  await coalescing.leadOrWait('ns', 'mine')
  await coalescing.release('ns', ['mine', 'not-mine'])
  assert.equal(
    locks.calls.filter((c) => c.startsWith('unlock')),
    ['unlock mine'],
  )
  await coalescing.release('ns', ['mine'])
  assert.is(locks.calls.filter((c) => c.startsWith('unlock')).length, 1, 'released once')
  await coalescing.leadOrWait('ns', 'uncacheable')
  await coalescing.pass('ns', 'uncacheable')
  await coalescing.pass('ns', 'never-locked')
  assert.equal(
    locks.calls.filter((c) => c.startsWith('pass')),
    [`pass uncacheable ${PASS_MS}`],
  )
  await coalescing.leadOrWait('ns', 'k3')
  locks.failWith = new Unavailable('down')
  await coalescing.release('ns', ['k3'])
})

test.run()
