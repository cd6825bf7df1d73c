// HTTP-date (RFC 9110 §5.6.7): the three forms a recipient accepts, and everything else it must not.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { httpDate } from '../../src/http-cache/policy/http-date.ts'

const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37)
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0)

test('the three forms of RFC 9110 §5.6.7 read as the same instant', () => {
  const rows: [string, string, number][] = [
    ['IMF-fixdate', 'Sun, 06 Nov 1994 08:49:37 GMT', NOV_6_1994],
    ['obsolete RFC 850 form', 'Sunday, 06-Nov-94 08:49:37 GMT', NOV_6_1994],
    ['obsolete asctime form, one-digit day padded with a space', 'Sun Nov  6 08:49:37 1994', NOV_6_1994],
    ['asctime with a two-digit day', 'Wed Nov 16 08:49:37 1994', Date.UTC(1994, 10, 16, 8, 49, 37)],
    ['second 60 is a leap second (23:59:60)', 'Sat, 31 Dec 2016 23:59:60 GMT', Date.UTC(2016, 11, 31, 23, 59, 59)],
    ['a year below 100 is that year', 'Mon, 01 Jan 0099 00:00:00 GMT', Date.UTC(2000, 0, 1) - 1901 * 365.2425 * 864e5],
  ]
  for (const [rule, value, expected] of rows.slice(0, 5)) assert.is(httpDate(value, NOW), expected, rule)
  assert.is(new Date(httpDate(rows[5]![1], NOW)!).getUTCFullYear(), 99, rows[5]![0])
})

test('RFC 850 two-digit years: more than 50 years ahead is the most recent past year with those digits', () => {
  assert.is(new Date(httpDate('Thursday, 06-Nov-30 08:49:37 GMT', NOW)!).getUTCFullYear(), 2030)
  assert.is(new Date(httpDate('Thursday, 06-Nov-80 08:49:37 GMT', NOW)!).getUTCFullYear(), 1980)
  assert.is(new Date(httpDate('Thursday, 06-Nov-26 08:49:37 GMT', NOW)!).getUTCFullYear(), 2026)
})

test('anything else is invalid (Date.parse accepted every one of these)', () => {
  const invalid: [string, string][] = [
    ['UTC instead of GMT', 'Sun, 06 Nov 1994 08:49:37 UTC'],
    ['a numeric zone', 'Sun, 06 Nov 1994 08:49:37 +0000'],
    ['a missing comma', 'Sun 06 Nov 1994 08:49:37 GMT'],
    ['doubled spaces', 'Sun,  06 Nov 1994 08:49:37 GMT'],
    ['dashes in an IMF-fixdate', 'Sun, 06-Nov-1994 08:49:37 GMT'],
    ['a one-digit hour', 'Sun, 06 Nov 1994 8:49:37 GMT'],
    ['a one-digit day', 'Sun, 6 Nov 1994 08:49:37 GMT'],
    ['a two-digit year in an IMF-fixdate', 'Sun, 06 Nov 94 08:49:37 GMT'],
    ['lower case (the grammar is case-sensitive)', 'sun, 06 nov 1994 08:49:37 gmt'],
    ['a long day name in an IMF-fixdate', 'Sunday, 06 Nov 1994 08:49:37 GMT'],
    ['a short day name in the RFC 850 form', 'Sun, 06-Nov-94 08:49:37 GMT'],
    ['ISO 8601', '1994-11-06T08:49:37Z'],
    ['a date that does not exist', 'Thu, 31 Feb 1994 08:49:37 GMT'],
    ['day 00', 'Sun, 00 Nov 1994 08:49:37 GMT'],
    ['hour 24', 'Sun, 06 Nov 1994 24:00:00 GMT'],
    ['minute 60', 'Sun, 06 Nov 1994 08:60:00 GMT'],
    ['second 61', 'Sun, 06 Nov 1994 08:49:61 GMT'],
    ['a number', '0'],
    ['a negative number', '-1'],
    ['trailing text', 'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT'],
  ]
  for (const [rule, value] of invalid) assert.is(httpDate(value, NOW), undefined, rule)
  assert.is(httpDate(undefined), undefined, 'absent')
  assert.is(httpDate(''), undefined, 'empty')
})

test.run()
