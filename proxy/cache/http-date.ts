// An HTTP-date read as RFC 9110 5.6.7 defines it: the IMF-fixdate, or the obsolete RFC 850 and
// asctime forms a recipient still accepts. Date.parse alone reads far more ("2030", "yesterday
// 2030" and "1" are each some year's first instant), and If-Modified-Since that is not an
// HTTP-date must be ignored (RFC 9110 13.1.3), not read as a date nobody wrote.

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "\\d\\d:\\d\\d:\\d\\d";
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d\\d ${MONTH} \\d{4} ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d\\d-${MONTH}-\\d\\d ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`);

/** The instant `text` names (ms since the epoch), or NaN when it is no HTTP-date. */
export function parseHttpDate(text: string): number {
  const t = text.trim();
  if (IMF_FIXDATE.test(t) || RFC850_DATE.test(t)) return Date.parse(t);
  // asctime carries no zone; it is GMT, which Date.parse would not assume.
  if (ASCTIME_DATE.test(t)) return Date.parse(`${t} GMT`);
  return Number.NaN;
}
