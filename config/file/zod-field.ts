// Wraps one of the small field parsers (durations, sizes, addresses, key specs) as a zod
// schema whose failures become issues carrying `params.expected`, which the error report
// prints. Shared by every schema file so they report bad values the same way.

import { z } from "zod";
import type { Parsed } from "./parsed.js";

/** A value parsed by one of the small field parsers; failures become issues with `params.expected`. */
export function field<T>(parse: (v: unknown) => Parsed<T>) {
  return z.unknown().transform((value, ctx): T => {
    const r = parse(value);
    if (r.ok) return r.value;
    ctx.issues.push({
      code: "custom",
      message: `expected ${r.expected}`,
      input: value,
      params: r.found === undefined ? { expected: r.expected } : { expected: r.expected, found: r.found },
    });
    return z.NEVER;
  });
}
