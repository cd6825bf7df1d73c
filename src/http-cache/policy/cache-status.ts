// Builds the Cache-Status response field (RFC 9211), so operators can see why a response came from where it did.

export type Forward = 'uri-miss' | 'vary-miss' | 'miss' | 'stale' | 'bypass' | 'method' | 'request'

export interface CacheStatus {
  readonly hit?: boolean
  readonly fwd?: Forward
  readonly fwdStatus?: number
  /** Remaining freshness in seconds (negative when stale). */
  readonly ttl?: number
  readonly stored?: boolean
  readonly collapsed?: boolean
  readonly detail?: string
}

export function cacheStatus(s: CacheStatus): string {
  const params = ['cachecar']
  if (s.hit) params.push('hit')
  if (s.fwd) params.push(`fwd=${s.fwd}`)
  if (s.fwdStatus !== undefined) params.push(`fwd-status=${s.fwdStatus}`)
  if (s.ttl !== undefined) params.push(`ttl=${Math.floor(s.ttl)}`)
  if (s.stored) params.push('stored')
  if (s.collapsed) params.push('collapsed')
  if (s.detail) params.push(`detail=${s.detail}`)
  return params.join('; ')
}
