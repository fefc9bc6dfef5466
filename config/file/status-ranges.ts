// HTTP status expectations for health checks: 200, "200-399", or a list of those, normalized
// to inclusive ranges.

import { bad, ok, type Parsed } from "./parsed.js";

export interface StatusRange {
  readonly from: number;
  readonly to: number;
}

const EXPECTED = 'a status code like 200, a range like "200-399", or a list of those (codes 100-599)';

function one(input: unknown): StatusRange | undefined {
  let from: number;
  let to: number;
  if (typeof input === "number") {
    from = to = input;
  } else if (typeof input === "string") {
    const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(input);
    if (m === null) return undefined;
    from = Number(m[1]);
    to = m[2] === undefined ? from : Number(m[2]);
  } else if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    if (Object.keys(o).length !== 2 || typeof o.from !== "number" || typeof o.to !== "number")
      return undefined;
    from = o.from;
    to = o.to;
  } else {
    return undefined;
  }
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 100 || to > 599 || from > to)
    return undefined;
  return { from, to };
}

export function parseStatusRanges(input: unknown): Parsed<StatusRange[]> {
  const items = Array.isArray(input) ? input : [input];
  if (items.length === 0) return bad(EXPECTED);
  const out: StatusRange[] = [];
  for (const item of items) {
    const r = one(item);
    if (r === undefined) return bad(EXPECTED);
    out.push(r);
  }
  return ok(out);
}
