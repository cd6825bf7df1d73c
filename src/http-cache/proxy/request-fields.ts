// Request fields that change what an upstream answers without being part of the cache key, and fields that carry
// credentials. Names are compared folded, as common stacks fold them: CGI-style servers (PHP, Rack, WSGI) turn
// "X_Forwarded_Host" and "X-Forwarded-Host" into the same HTTP_X_FORWARDED_HOST.

/** Lower case, "_" as "-": the name a CGI-style upstream reads a field under. */
export function foldFieldName(name: string): string {
  return name.includes('_') ? name.toLowerCase().replaceAll('_', '-') : name.toLowerCase()
}

/**
 * Fields that ask an upstream for another host, URL, scheme, client address or method. A request carrying one goes
 * through uncached both ways: its answer may be shaped by the field (cache poisoning), and a stored answer may not
 * be what it asks for. Where each is read:
 */
export const UNKEYED_OVERRIDES: readonly string[] = [
  // Host and URL overrides
  'x-forwarded-host', // Express (trust proxy), Rails, Django USE_X_FORWARDED_HOST, Symfony, Spring ForwardedHeaderFilter
  'x-forwarded-server', // Apache mod_proxy; Rack/Rails (X-Forwarded-Server)
  'x-forwarded-port', // Rack, Symfony, Spring
  'x-forwarded-prefix', // Spring ForwardedHeaderFilter, Symfony, Traefik
  'x-forwarded-uri', // Traefik, Authelia
  'forwarded', // RFC 7239: Spring, Undertow, Express-forwarded
  'x-host', // Rails/Rack and others (PortSwigger Param Miner's list)
  'x-original-host', // IIS ARR, Azure Front Door
  'x-original-url',
  'x-rewrite-url', // IIS URL Rewrite; Symfony and Zend read them as the request URI
  'x-original-uri', // nginx auth_request setups, Apache; frameworks read it as the request URI
  // Scheme overrides
  'x-forwarded-scheme', // nginx ingress, Rack
  'x-forwarded-protocol', // Rack (HTTP_X_FORWARDED_PROTOCOL); X-Forwarded-Proto itself cachecar replaces with its own
  'x-forwarded-ssl', // Rack, Rails, Laravel TrustProxies
  'front-end-https', // Microsoft OWA/ISA; Rack
  'x-url-scheme', // Rack (HTTP_X_URL_SCHEME)
  // Client-address overrides (rate limits, geo, audit answers keyed on the address)
  'x-real-ip', // nginx realip, Rack, Laravel
  'true-client-ip', // Akamai, Cloudflare Enterprise
  'x-proxyuser-ip', // Google (GFE)
  'x-client-ip', // Rack (HTTP_CLIENT_IP), request-ip
  'x-cluster-client-ip', // Rackspace LB, Rack, request-ip
  'cf-connecting-ip', // Cloudflare
  'fastly-client-ip', // Fastly
  // Method overrides
  'x-http-method-override',
  'x-http-method',
  'x-method-override', // Google APIs, ASP.NET, Express method-override
]

/**
 * Fields that carry a credential the way Authorization does (RFC 9111 §3.5): with an upstream's default TTL on, a
 * request carrying one is stored only when the response says public, s-maxage or must-revalidate.
 */
export const CREDENTIAL_FIELDS: readonly string[] = [
  'x-api-key', // AWS API Gateway, many SaaS APIs
  'x-auth-token', // OpenStack, many in-house APIs
  'x-access-token',
  'x-session-token',
  'x-amz-security-token', // AWS temporary credentials
]

/** Whether any field of `headers` (Node's names, already lower case) is one of `folded` once folded. */
export function carriesAny(headers: Record<string, unknown>, folded: ReadonlySet<string>): boolean {
  for (const name in headers) if (folded.has(name.includes('_') ? name.replaceAll('_', '-') : name)) return true
  return false
}
