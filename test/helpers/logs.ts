// A logger whose lines tests can read back: cachecar's real logger, writing into an array.
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/ops/logger.ts'

export function capturingLogger(level: Parameters<typeof createLogger>[0]): { logger: Logger; logs: string[] } {
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk))
      done()
    },
  })
  return { logger: createLogger(level, sink), logs }
}
