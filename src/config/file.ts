// Reads the optional JSON file named by CACHECAR_CONFIG and turns its upstreams into CACHECAR_* variables.
import { readFileSync } from 'node:fs'
import { UPSTREAM_OPTION_SUFFIXES, upstreamPrefix } from './upstreams.ts'

/** "CONNECT_TIMEOUT_MS" → "connectTimeoutMs": the JSON spelling of an upstream option. */
export function jsonOptionName(suffix: string): string {
  return suffix.toLowerCase().replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())
}

/**
 * Variables from the file, for the environment to override:
 * {"upstreams": {"api": {"url": "https://api.example.com", "headersTimeoutMs": 5000, "defaultTtl": "60s"}}}
 */
export function variablesFromFile(path: string | undefined, problems: string[]): Record<string, string> {
  if (!path) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    problems.push(
      `CACHECAR_CONFIG must name a readable JSON file, got ${JSON.stringify(path)} (${(error as Error).message})`,
    )
    return {}
  }
  const upstreams = (parsed as { upstreams?: unknown })?.upstreams
  if (typeof upstreams !== 'object' || upstreams === null || Array.isArray(upstreams)) {
    problems.push(`CACHECAR_CONFIG must hold {"upstreams": {"<name>": {"url": "…", …}}}, got ${JSON.stringify(path)}`)
    return {}
  }
  const variables: Record<string, string> = {}
  const list: string[] = []
  for (const [name, options] of Object.entries(upstreams)) {
    const { url, ...rest } = (options ?? {}) as Record<string, unknown>
    if (typeof url !== 'string') {
      problems.push(`CACHECAR_CONFIG: upstream "${name}" needs a "url" string`)
      continue
    }
    list.push(`${name}=${url}`)
    for (const [key, value] of Object.entries(rest)) {
      const suffix = UPSTREAM_OPTION_SUFFIXES.find((s) => jsonOptionName(s) === key)
      // A list option (unkeyedFields, credentialFields) may also be given as an array of strings.
      const list = Array.isArray(value) && value.every((v) => typeof v === 'string')
      if (!suffix || (typeof value !== 'string' && typeof value !== 'number' && !list)) {
        problems.push(
          `CACHECAR_CONFIG: upstream "${name}" has an unknown or non-scalar option "${key}" (known: ${UPSTREAM_OPTION_SUFFIXES.map(jsonOptionName).join(', ')})`,
        )
        continue
      }
      variables[upstreamPrefix(name) + suffix] = list ? (value as string[]).join(',') : String(value)
    }
  }
  if (list.length > 0) variables.CACHECAR_UPSTREAMS = list.join(',')
  return variables
}
