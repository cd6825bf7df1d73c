// Session IDs: 32 bytes from the OS CSPRNG, base64url (43 characters). A client never chooses one.
import { randomBytes } from 'node:crypto'

const ID_RE = /^[A-Za-z0-9_-]{43}$/

export function newSessionId(): string {
  return randomBytes(32).toString('base64url')
}

/** Shape check only; whether the ID exists is answered by the database index, never by comparing strings here. */
export function plausibleSessionId(id: string): boolean {
  return ID_RE.test(id)
}
