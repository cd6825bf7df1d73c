// Container health check (Docker HEALTHCHECK and ECS healthCheck): exit 0 when /healthz answers 200, else 1.
// Uses Node itself, since the slim image has no curl; bounded so a hung sidecar fails the check instead of hanging it.
const port = process.env.CACHECAR_PORT ?? '8787'
const host = process.env.CACHECAR_HOST ?? '127.0.0.1'
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) })
  process.exit(response.ok ? 0 : 1)
} catch {
  process.exit(1)
}
