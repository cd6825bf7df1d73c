// Structured JSON logs on stdout, one line per event; secrets are redacted by path, values are never logged.
import { pino, type Logger } from 'pino'
import type { LogLevel } from '../config.ts'

export type { Logger } from 'pino'

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'cachecar' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['token', 'config.token', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
  }
  return destination ? pino(options, destination) : pino(options)
}
