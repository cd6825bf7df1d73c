// The shared tier's circuit breaker, on a manual clock: when calls start failing at once, and when they are tried again.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CircuitBreaker } from '../../src/store/shared/circuit-breaker.ts'
import { ManualClock } from '../helpers/clock.ts'

const breaker = (clock: ManualClock) =>
  new CircuitBreaker({ failuresToOpen: 3, firstOpenMs: 250, maxOpenMs: 1000, now: clock.now })

test('opens on the third failure in a row, and reports that once', () => {
  const clock = new ManualClock()
  const circuit = breaker(clock)
  assert.is(circuit.failed(), false)
  assert.is(circuit.failed(), false)
  assert.is(circuit.open, false, 'two failures are not enough')
  assert.is(circuit.failed(), true, 'the third opens it')
  assert.is(circuit.open, true)
  assert.is(circuit.openForMs, 250)
})

test('a success in between starts the count again', () => {
  const clock = new ManualClock()
  const circuit = breaker(clock)
  circuit.failed()
  circuit.failed()
  assert.is(circuit.succeeded(), false, 'closing a circuit that never opened is not news')
  circuit.failed()
  circuit.failed()
  assert.is(circuit.open, false)
})

test('after the open period one probe is let through; a failed probe reopens at once for twice as long, up to the cap', () => {
  const clock = new ManualClock()
  const circuit = breaker(clock)
  for (let i = 0; i < 3; i++) circuit.failed()
  clock.advance(249)
  assert.is(circuit.open, true)
  clock.advance(1)
  assert.is(circuit.open, false, 'the probe may run')
  assert.is(circuit.failed(), false, 'a failed probe reopens without a second report')
  assert.is(circuit.openForMs, 500)
  clock.advance(500)
  circuit.failed()
  assert.is(circuit.openForMs, 1000)
  clock.advance(1000)
  circuit.failed()
  assert.is(circuit.openForMs, 1000, 'capped at maxOpenMs')
})

test('a probe that succeeds closes the circuit, reports it, and the next opening starts short again', () => {
  const clock = new ManualClock()
  const circuit = breaker(clock)
  for (let i = 0; i < 3; i++) circuit.failed()
  clock.advance(250)
  circuit.failed()
  clock.advance(500)
  assert.is(circuit.succeeded(), true, 'closed after having opened')
  assert.is(circuit.open, false)
  for (let i = 0; i < 3; i++) circuit.failed()
  assert.is(circuit.openForMs, 250)
})

test('a fresh connection lets the next call through at once, but a failure then reopens for the doubled period', () => {
  const clock = new ManualClock()
  const circuit = breaker(clock)
  for (let i = 0; i < 3; i++) circuit.failed()
  circuit.reset()
  assert.is(circuit.open, false)
  assert.is(circuit.openForMs, 0)
  for (let i = 0; i < 3; i++) circuit.failed()
  assert.is(circuit.openForMs, 500, 'the backoff is kept until a call succeeds')
})

test.run()
