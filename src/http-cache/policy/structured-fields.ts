// A Structured Field Dictionary parser (RFC 8941 §4.2.2, the parsing algorithms of §4.2), for the targeted cache
// fields (RFC 9213 §2.1: CDN-Cache-Control, Cachecar-Cache-Control). Written here rather than taken from npm: the
// one dictionary type is about a hundred lines, and the maintained package (structured-headers) brings the
// serialisers and every other type with it. Any failure fails the whole field (undefined), as §4.2 requires.

export type BareItem =
  | { readonly type: 'integer' | 'decimal'; readonly value: number }
  | { readonly type: 'string' | 'token'; readonly value: string }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'binary'; readonly value: string }

export type Parameters = ReadonlyMap<string, BareItem>

export type Member =
  | { readonly item: BareItem; readonly params: Parameters }
  | { readonly list: readonly { readonly item: BareItem; readonly params: Parameters }[]; readonly params: Parameters }

class Invalid extends Error {}

const KEY_START = /[a-z*]/
const KEY_CHAR = /[a-z0-9_\-.*]/
const TOKEN_START = /[A-Za-z*]/
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** The dictionary in `field`, in order, a repeated key keeping its last value; undefined when it does not parse. */
export function parseDictionary(field: string): Map<string, Member> | undefined {
  try {
    return new Parser(field.replace(/^ +| +$/g, '')).dictionary()
  } catch (error) {
    if (error instanceof Invalid) return undefined
    throw error
  }
}

class Parser {
  readonly #input: string
  #at = 0

  constructor(input: string) {
    this.#input = input
  }

  dictionary(): Map<string, Member> {
    const members = new Map<string, Member>()
    while (!this.#done()) {
      const key = this.#key()
      let member: Member
      if (this.#peek() === '=') {
        this.#at++
        member = this.#peek() === '(' ? this.#innerList() : { item: this.#bareItem(), params: this.#params() }
      } else {
        member = { item: { type: 'boolean', value: true }, params: this.#params() }
      }
      members.set(key, member)
      this.#skip(/[ \t]/)
      if (this.#done()) return members
      if (this.#input[this.#at++] !== ',') throw new Invalid()
      this.#skip(/[ \t]/)
      if (this.#done()) throw new Invalid() // a trailing comma
    }
    return members
  }

  #innerList(): Member {
    this.#at++ // (
    const list: { item: BareItem; params: Parameters }[] = []
    while (!this.#done()) {
      this.#skip(/ /)
      if (this.#peek() === ')') {
        this.#at++
        return { list, params: this.#params() }
      }
      list.push({ item: this.#bareItem(), params: this.#params() })
      const next = this.#peek()
      if (next !== ' ' && next !== ')') throw new Invalid()
    }
    throw new Invalid() // no closing parenthesis
  }

  #params(): Parameters {
    const params = new Map<string, BareItem>()
    while (this.#peek() === ';') {
      this.#at++
      this.#skip(/ /)
      const key = this.#key()
      let value: BareItem = { type: 'boolean', value: true }
      if (this.#peek() === '=') {
        this.#at++
        value = this.#bareItem()
      }
      params.set(key, value)
    }
    return params
  }

  #key(): string {
    const start = this.#at
    if (!KEY_START.test(this.#peek())) throw new Invalid()
    this.#at++
    this.#skip(KEY_CHAR)
    return this.#input.slice(start, this.#at)
  }

  #bareItem(): BareItem {
    const c = this.#peek()
    if (c === '-' || (c >= '0' && c <= '9')) return this.#number()
    if (c === '"') return this.#string()
    if (c === ':') return this.#binary()
    if (c === '?') return this.#boolean()
    if (TOKEN_START.test(c)) {
      const start = this.#at
      this.#at++
      this.#skip(TOKEN_CHAR)
      return { type: 'token', value: this.#input.slice(start, this.#at) }
    }
    throw new Invalid()
  }

  /** §4.2.4: at most 15 digits for an integer; 12 before and 1 to 3 after the point for a decimal. */
  #number(): BareItem {
    const match = /^(-?)(\d+)(?:\.(\d*))?/.exec(this.#input.slice(this.#at))
    if (!match) throw new Invalid()
    this.#at += match[0].length
    const [, sign, whole, fraction] = match
    if (fraction === undefined) {
      if (whole!.length > 15) throw new Invalid()
      return { type: 'integer', value: Number(sign + whole!) }
    }
    if (whole!.length > 12 || fraction.length < 1 || fraction.length > 3) throw new Invalid()
    return { type: 'decimal', value: Number(`${sign}${whole}.${fraction}`) }
  }

  /** §4.2.5: printable ASCII, with \" and \\ the only escapes. */
  #string(): BareItem {
    this.#at++ // "
    let value = ''
    while (!this.#done()) {
      const c = this.#input[this.#at++]!
      if (c === '\\') {
        const escaped = this.#input[this.#at++]
        if (escaped !== '"' && escaped !== '\\') throw new Invalid()
        value += escaped
      } else if (c === '"') {
        return { type: 'string', value }
      } else if (c < ' ' || c > '~') {
        throw new Invalid()
      } else {
        value += c
      }
    }
    throw new Invalid() // no closing quote
  }

  #binary(): BareItem {
    const end = this.#input.indexOf(':', this.#at + 1)
    if (end < 0) throw new Invalid()
    const value = this.#input.slice(this.#at + 1, end)
    if (!BASE64.test(value)) throw new Invalid()
    this.#at = end + 1
    return { type: 'binary', value }
  }

  #boolean(): BareItem {
    const c = this.#input[this.#at + 1]
    if (c !== '0' && c !== '1') throw new Invalid()
    this.#at += 2
    return { type: 'boolean', value: c === '1' }
  }

  #peek(): string {
    return this.#input[this.#at] ?? ''
  }

  #done(): boolean {
    return this.#at >= this.#input.length
  }

  #skip(chars: RegExp): void {
    while (!this.#done() && chars.test(this.#input[this.#at]!)) this.#at++
  }
}
