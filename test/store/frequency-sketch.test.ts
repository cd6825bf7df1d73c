// The memory tier's read counts: count-min estimates, saturation at 15, and halving after a sample of reads.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FrequencySketch } from '../../src/store/frequency-sketch.ts'

test('counts reads per key up to 15, and halves every count once a sample of reads has passed', () => {
  const sketch = new FrequencySketch(1024) // 1,024 counters a row: a sample is at least 1,024 reads
  const [a, b, c] = [0x1234567, 0x7654321, 0x0badf00d]
  for (let i = 0; i < 20; i++) sketch.increment(a, 1)
  for (let i = 0; i < 6; i++) sketch.increment(b, 1)
  assert.is(sketch.estimate(a), 15, 'saturates at 15')
  assert.is(sketch.estimate(b), 6)
  assert.is(sketch.estimate(c), 0, 'a key never read')
  // 1,024 reads in all since the start make a sample: the counts halve, each on its own (no bit crosses counters).
  for (let i = 26; i < 1023; i++) sketch.increment(c, 1)
  assert.is(sketch.estimate(a), 15, 'not yet')
  sketch.increment(c, 1)
  assert.equal([sketch.estimate(a), sketch.estimate(b), sketch.estimate(c)], [7, 3, 7])
})

test.run()
