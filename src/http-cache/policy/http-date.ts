// HTTP-date (RFC 9110 §5.6.7): exactly IMF-fixdate, or one of the two obsolete forms a recipient must still accept
// (RFC 850 and C's asctime). Anything else is invalid; Date.parse took "UTC" for "GMT", missing commas, doubled
// spaces, one-digit hours and ISO dates, and an Expires it read that way made a response fresh that RFC 9111 §5.3
// says is already expired. One parser for every date field cachecar reads (Date, Expires, Last-Modified,
// If-Modified-Since).

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const MONTH = MONTHS.join('|')
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})'

/** Sun, 06 Nov 1994 08:49:37 GMT */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`)
/** Sunday, 06-Nov-94 08:49:37 GMT */
const RFC_850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`,
)
/** Sun Nov  6 08:49:37 1994 (a one-digit day is padded with a space) */
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) (\\d{2}| \\d) ${TIME} (\\d{4})$`)

const YEAR_MS = 365.25 * 24 * 3600 * 1000

/**
 * An HTTP-date in epoch ms; undefined when absent or invalid (not one of the three forms, or no such date or time).
 * `now` places RFC 850's two-digit year: one more than 50 years ahead is the most recent past year with those digits.
 */
export function httpDate(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined
  let match = IMF_FIXDATE.exec(value)
  if (match) return utc(Number(match[3]), match[2]!, match[1]!, match[4]!, match[5]!, match[6]!)
  match = RFC_850.exec(value)
  if (match) {
    const twoDigits = Number(match[3])
    const century = Math.floor(new Date(now).getUTCFullYear() / 100) * 100
    let year = century + twoDigits
    const at = utc(year, match[2]!, match[1]!, match[4]!, match[5]!, match[6]!)
    if (at === undefined || at <= now + 50 * YEAR_MS) return at
    year -= 100
    return utc(year, match[2]!, match[1]!, match[4]!, match[5]!, match[6]!)
  }
  match = ASCTIME.exec(value)
  if (match) return utc(Number(match[6]), match[1]!, match[2]!.trim(), match[3]!, match[4]!, match[5]!)
  return undefined
}

/** The instant, or undefined for a date or time that does not exist (31 Feb, 24:00:00); second 60 is a leap second. */
function utc(
  year: number,
  month: string,
  day: string,
  hour: string,
  minute: string,
  second: string,
): number | undefined {
  const m = MONTHS.indexOf(month)
  const [d, h, min, s] = [Number(day), Number(hour), Number(minute), Number(second)]
  if (d < 1 || h > 23 || min > 59 || s > 60) return undefined
  // setUTCFullYear, not Date.UTC, which reads a year below 100 as 19xx.
  const date = new Date(0)
  date.setUTCFullYear(year, m, d)
  date.setUTCHours(h, min, Math.min(s, 59))
  // 31 Feb rolls over into March: such a date is not one.
  return date.getUTCDate() === d ? date.getTime() : undefined
}
