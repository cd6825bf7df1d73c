// Assertions uvu lacks.
import * as assert from 'uvu/assert'

/** Awaits `run` and asserts it rejects with an instance of `type`; returns the error. */
export async function rejectsWith<E>(run: () => Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await run()
  } catch (error) {
    assert.instance(error, type)
    return error as E
  }
  assert.unreachable(`expected a ${type.name}`)
  throw new Error('unreachable')
}
