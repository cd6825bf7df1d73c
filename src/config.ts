// Reads CACHECAR_* variables once into a frozen, typed Config; every problem is named in one ConfigError.
import { SETTINGS, type Config as Settings } from './config/spec.ts'
import { formatSize } from './config/units.ts'
import { variablesFromFile } from './config/file.ts'
import { UPSTREAM_OPTION_SUFFIXES, parseUpstreams, upstreamPrefix, type UpstreamConfig } from './config/upstreams.ts'

export type { LogLevel } from './config/spec.ts'
export type { UpstreamConfig } from './config/upstreams.ts'

export interface Config extends Settings {
  readonly upstreams: readonly UpstreamConfig[]
}

export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** Parses `env`; throws ConfigError listing every bad variable with its value and the accepted form. */
export function loadConfig(processEnv: Record<string, string | undefined>): Config {
  const problems: string[] = []
  // The JSON file (CACHECAR_CONFIG) supplies upstreams; variables set in the environment win over it.
  const env = { ...variablesFromFile(processEnv.CACHECAR_CONFIG, problems), ...definedOnly(processEnv) }
  const values: Record<string, unknown> = {}
  for (const setting of SETTINGS) {
    const raw = env[setting.name]
    const input = raw ?? setting.default
    if (input === undefined) {
      values[setting.key] = undefined
      continue
    }
    const result = setting.parse(input)
    if ('ok' in result) values[setting.key] = result.ok
    else
      problems.push(
        `${setting.name} ${result.must}, got ${setting.quote && raw !== undefined ? setting.quote(raw) : JSON.stringify(raw)}`,
      )
  }
  values.upstreams = parseUpstreams(env, problems)
  problems.push(...unknownVariables(Object.keys(env), values.upstreams as UpstreamConfig[]))
  const config = values as unknown as Config
  if (problems.length === 0) problems.push(...crossChecks(config))
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(config)
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))
}

/** Variables cachecar reads besides SETTINGS; CACHECAR_URL is the client's (examples set it in the app's container). */
const OTHER_VARIABLES = ['CACHECAR_UPSTREAMS', 'CACHECAR_CONFIG', 'CACHECAR_URL']

/**
 * A CACHECAR_* variable cachecar does not read is a typo until shown otherwise (CACHECAR_MAXBYTES would silently
 * leave the budget at its default): each one is a problem, with the closest known name.
 */
function unknownVariables(names: readonly string[], upstreams: readonly UpstreamConfig[]): string[] {
  const known = [
    ...SETTINGS.map((s) => s.name),
    ...OTHER_VARIABLES,
    ...upstreams.flatMap((u) => UPSTREAM_OPTION_SUFFIXES.map((suffix) => upstreamPrefix(u.name) + suffix)),
  ]
  const knownSet = new Set(known)
  return names
    .filter((name) => name.startsWith('CACHECAR_') && !knownSet.has(name))
    .map((name) => {
      const [closest, distance] = known
        .map((candidate) => [candidate, editDistance(name, candidate)] as const)
        .reduce((best, next) => (next[1] < best[1] ? next : best))
      const hint = distance <= Math.max(2, Math.floor(name.length / 4)) ? `; did you mean ${closest}?` : ''
      const upstream = name.startsWith('CACHECAR_UPSTREAM_')
        ? ' (per-upstream settings need the upstream in CACHECAR_UPSTREAMS)'
        : ''
      return `unknown variable ${name}${hint}${upstream}`
    })
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** Rules that span two settings. */
function crossChecks(config: Config): string[] {
  const problems: string[] = []
  if (config.defaultTtlMs > config.maxTtlMs) {
    problems.push(
      `CACHECAR_DEFAULT_TTL must not exceed CACHECAR_MAX_TTL, got ${config.defaultTtlMs / 1000}s > ${config.maxTtlMs / 1000}s`,
    )
  }
  // Eviction keeps the store between 80 % and 90 % of the budget: a value must fit in that margin many times over.
  if (config.maxValueBytes > config.maxBytes / 8) {
    problems.push(
      `CACHECAR_MAX_VALUE_BYTES must be at most 1/8 of CACHECAR_MAX_BYTES (${formatSize(Math.floor(config.maxBytes / 8))}), got ${formatSize(config.maxValueBytes)}`,
    )
  }
  // Beyond loopback, whoever reaches the address could read and write every response, value and session.
  if (!isLoopback(config.host) && config.token === undefined && !config.allowOpenBind) {
    problems.push(
      `CACHECAR_HOST ${JSON.stringify(config.host)} is not a loopback address and CACHECAR_TOKEN is unset: anyone who reaches it could read and write every cached response, value and session; set CACHECAR_TOKEN (or CACHECAR_ALLOW_OPEN_BIND=true to accept that)`,
    )
  }
  if (config.sessionIdleTtlMs > config.sessionAbsoluteTtlMs) {
    problems.push(
      `CACHECAR_SESSION_IDLE_TTL must not exceed CACHECAR_SESSION_ABSOLUTE_TTL, got ${config.sessionIdleTtlMs / 1000}s > ${config.sessionAbsoluteTtlMs / 1000}s`,
    )
  }
  return problems
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: reachable from this task's network namespace only. */
function isLoopback(host: string): boolean {
  const address = host.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '')
  return address === 'localhost' || address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)
}

/** The table printed by `--help`. */
export function configHelp(): string {
  const rows = SETTINGS.map((s) => `  ${s.name.padEnd(32)} ${(s.default ?? '(unset)').padEnd(28)} ${s.help}`)
  return [
    'cachecar — HTTP cache, key/value and session sidecar on a container-local SQLite file.',
    '',
    'Configuration (environment variables):',
    `  ${'VARIABLE'.padEnd(32)} ${'DEFAULT'.padEnd(28)} MEANING`,
    ...rows,
    `  ${'CACHECAR_UPSTREAMS'.padEnd(32)} ${'(none)'.padEnd(28)} name=url,… upstreams served at /u/<name>/…`,
    `  ${'CACHECAR_UPSTREAM_<NAME>_*'.padEnd(32)} ${''.padEnd(28)} per upstream: CONNECTIONS (64), CONNECT_TIMEOUT_MS (2s),`,
    `  ${''.padEnd(32)} ${''.padEnd(28)} HEADERS_TIMEOUT_MS (10s), BODY_TIMEOUT_MS (30s), DEFAULT_TTL (0 = off),`,
    `  ${''.padEnd(32)} ${''.padEnd(28)} MAX_OBJECT_BYTES (8MiB), MAX_REQUEST_BYTES (8MiB), STALE_RETENTION (1h),`,
    `  ${''.padEnd(32)} ${''.padEnd(28)} UNKEYED_FIELDS, CREDENTIAL_FIELDS (comma lists of header names, none)`,
    `  ${'CACHECAR_CONFIG'.padEnd(32)} ${'(none)'.padEnd(28)} JSON file: {"upstreams": {"api": {"url": "https://…", "headersTimeoutMs": 5000}}}`,
  ].join('\n')
}
