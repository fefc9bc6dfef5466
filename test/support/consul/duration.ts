// Parses Go duration strings ("10s", "1m30s", "250ms", "0") the way Consul's `?wait=` does,
// so the double rejects exactly what a real agent rejects.

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3,
  "\u03bcs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /([0-9]*(?:\.[0-9]*)?)([a-z\u00b5\u03bc]+)/y;

/** Milliseconds, or undefined when `text` is not a valid Go duration. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const start = PART.lastIndex;
    const m = PART.exec(s);
    if (m === null || m.index !== start) return undefined;
    const num = m[1];
    const unit = UNIT_MS[m[2]];
    if (unit === undefined || num === "" || num === ".") return undefined;
    total += Number.parseFloat(num) * unit;
  }
  return sign * total;
}
