// The store's two key spaces: the app's (key/value namespaces and tags) and cachecar's own (sessions, stored HTTP
// responses and their Vary specs, subject and surrogate tags). Every internal name starts with INTERNAL, a character
// the key/value API never produces (its namespaces start with a letter or digit, its tags never hold "#"), so no
// /v1/kv request can name internal data in any tier: SQLite, the hot tier and the shared tier store names as given.

/** The first character of every namespace and tag cachecar keeps for itself. */
export const INTERNAL = '#'

/** Session records, keyed by session ID. */
export const SESSIONS = `${INTERNAL}sessions`

/** Stored responses (and Vary specs) of one upstream. */
export const httpNamespace = (upstream: string): string => `${INTERNAL}http:${upstream}`

/** Tags every session of a subject, so log-out-everywhere is one tag delete. */
export const subjectTag = (subject: string): string => `${INTERNAL}subject ${subject}`

/** Tags stored responses with their Surrogate-Key / Cache-Tag values, for purges by key. */
export const surrogateTag = (key: string): string => `${INTERNAL}surrogate ${key}`

export const isInternal = (name: string): boolean => name.startsWith(INTERNAL)

/** Subject tags: their deletes must reach the shared tier or fail (a log-out that half-happened is none). */
export const isSubjectTag = (tag: string): boolean => tag.startsWith(subjectTag(''))
