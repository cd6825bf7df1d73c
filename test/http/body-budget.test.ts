// The body budget: request bodies held in memory, all clients together, never pass it; waiters are served in order,
// and every way out (done, client gone while waiting) gives the room back.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BodyBudget } from '../../src/http/body-budget.ts'

const settled = async (promise: Promise<unknown>) => {
  let done = false
  void promise.then(() => {
    done = true
  })
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

test('a body that does not fit waits until earlier ones give their room back', async () => {
  const budget = new BodyBudget(100)
  const first = await budget.take(60)
  const second = budget.take(60)
  assert.is(await settled(second), false)
  assert.is(budget.taken, 60)
  first!()
  const release = await second
  assert.is(budget.taken, 60)
  release!()
  release!() // giving back twice counts once
  assert.is(budget.taken, 0)
})

test('waiters are served in arrival order: a small body does not overtake a large one waiting', async () => {
  const budget = new BodyBudget(100)
  const held = await budget.take(50)
  const large = budget.take(80)
  const small = budget.take(10)
  assert.is(
    await settled(small),
    false,
    'the small body jumped the queue (a stream of them would starve the large one)',
  )
  held!()
  assert.is(await settled(large), true)
  assert.is(await settled(small), true)
  assert.is(budget.taken, 90)
})

test('a body larger than the whole budget waits for all of it, then runs alone', async () => {
  const budget = new BodyBudget(100)
  const held = await budget.take(1)
  const huge = budget.take(1000)
  assert.is(await settled(huge), false)
  held!()
  const release = await huge
  assert.is(budget.taken, 100)
  release!()
  assert.is(budget.taken, 0)
})

test('a waiter whose client leaves is withdrawn, and those behind it move up', async () => {
  const budget = new BodyBudget(100)
  const held = await budget.take(50)
  let leave!: () => void
  const left = new Promise<void>((resolve) => {
    leave = resolve
  })
  const large = budget.take(80, left)
  const small = budget.take(40)
  leave()
  assert.is(await large, undefined)
  assert.is(await settled(small), true, 'the small body stayed behind a waiter that had gone')
  held!()
  assert.is(budget.taken, 40)
})

test.run()
