// Structured Field Dictionaries (RFC 8941 §4.2.2) as the targeted cache fields use them (RFC 9213 §2.1).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type Member, parseDictionary } from '../../src/http-cache/policy/structured-fields.ts'

/** Each member as `key=type:value`, inner lists as `key=(…)`, parameters after `;`. */
function shape(field: string): string[] | undefined {
  const dictionary = parseDictionary(field)
  if (!dictionary) return undefined
  const item = ({ type, value }: { type: string; value: unknown }) => `${type}:${String(value)}`
  const params = (member: { params: ReadonlyMap<string, { type: string; value: unknown }> }) =>
    [...member.params].map(([key, value]) => `;${key}=${item(value)}`).join('')
  const text = (member: Member) =>
    'item' in member
      ? item(member.item) + params(member)
      : `(${member.list.map((inner) => item(inner.item) + params(inner)).join(' ')})${params(member)}`
  return [...dictionary].map(([key, member]) => `${key}=${text(member)}`)
}

test('RFC 8941 §4.2.2 dictionaries parse to their members, in order, with types and parameters', () => {
  const rows: [string, string, string[]][] = [
    ['bare keys are Boolean true', 'no-store, public', ['no-store=boolean:true', 'public=boolean:true']],
    ['integers', 'max-age=600, s-maxage=0', ['max-age=integer:600', 's-maxage=integer:0']],
    ['a negative integer', 'x=-5', ['x=integer:-5']],
    ['decimals', 'x=1.5', ['x=decimal:1.5']],
    ['strings with escapes', 'private="set-cookie, x-a\\"b"', ['private=string:set-cookie, x-a"b']],
    ['tokens', 'x=abc/def:1', ['x=token:abc/def:1']],
    ['booleans', 'x=?0, y=?1', ['x=boolean:false', 'y=boolean:true']],
    ['byte sequences', 'x=:aGVsbG8=:', ['x=binary:aGVsbG8=']],
    [
      'parameters',
      'max-age=60;a=1;b, c;d="e"',
      ['max-age=integer:60;a=integer:1;b=boolean:true', 'c=boolean:true;d=string:e'],
    ],
    ['inner lists', 'x=(a "b" 1);p', ['x=(token:a string:b integer:1);p=boolean:true']],
    ['a repeated key keeps its last value', 'max-age=1, max-age=2', ['max-age=integer:2']],
    ['spaces and tabs around commas', '  a=1 ,\tb=2  ', ['a=integer:1', 'b=integer:2']],
    ['keys may hold digits, _ - . *', 'a_b-c.d*9=1, *x', ['a_b-c.d*9=integer:1', '*x=boolean:true']],
  ]
  for (const [rule, field, expected] of rows) assert.equal(shape(field), expected, rule)
})

test('RFC 8941 §4.2: a field that does not parse fails as a whole', () => {
  const invalid: [string, string][] = [
    ['an upper-case key', 'Max-Age=600'],
    ['a key starting with a digit', '1x=1'],
    ['a trailing comma', 'max-age=1,'],
    ['an empty member', 'a, , b'],
    ['a missing comma', 'a=1 b=2'],
    ['an unterminated string', 'private="x'],
    ['a backslash escaping anything but " and \\', 'x="a\\nb"'],
    ['a control character in a string', 'x="a\u0001b"'],
    ['more than 15 integer digits', 'x=1234567890123456'],
    ['more than 3 decimal places', 'x=1.2345'],
    ['a decimal point without digits after it', 'x=1.'],
    ['a Boolean other than ?0 and ?1', 'x=?2'],
    ['an unterminated byte sequence', 'x=:aGVsbG8='],
    ['bytes that are not base64', 'x=:a*b:'],
    ['an unterminated inner list', 'x=(a b'],
    ['an empty value', 'x='],
    ['a value that is no item', 'x=#'],
    ['trailing garbage after an item', 'x=1a'],
    ['a tab inside an inner list', 'x=(a\tb)'],
  ]
  for (const [rule, field] of invalid) assert.is(parseDictionary(field), undefined, rule)
})

test.run()
