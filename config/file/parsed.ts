// The result shape shared by the small field parsers (durations, addresses, key specs ...):
// a parser never throws on user input; it says what it expected so the schema can report it.

/** `found`, when given, replaces the error's description of the value (for a value that is not what it looks like). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string; found?: string };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function bad<T = never>(expected: string, found?: string): Parsed<T> {
  return found === undefined ? { ok: false, expected } : { ok: false, expected, found };
}
