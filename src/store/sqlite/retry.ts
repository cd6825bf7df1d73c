// Retries an operation that met SQLITE_BUSY, with exponential backoff and jitter, without blocking the event loop.
import { setTimeout as sleep } from 'node:timers/promises'
import { StoreBusyError } from '../types.ts'
import { isBusy } from './errors.ts'

export interface RetryPolicy {
  readonly attempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

/** About one second of waiting in total before giving up with StoreBusyError. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 5, maxDelayMs: 250 }

/**
 * Runs `operation`; on SQLITE_BUSY waits and runs it again. The fast path stays synchronous apart from the
 * returned promise: no timer is created unless the database was actually busy.
 */
export async function retryBusy<T>(operation: () => T, policy: RetryPolicy, onRetry?: () => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return operation()
    } catch (error) {
      if (!isBusy(error)) throw error
      if (attempt >= policy.attempts) {
        throw new StoreBusyError(`database stayed locked through ${policy.attempts} attempts`, { cause: error })
      }
      onRetry?.()
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2))
    }
  }
}
