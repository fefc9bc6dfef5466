// The result shape shared by the small field parsers (durations, addresses, key specs ...):
// a parser never throws on user input; it says what it expected so the schema can report it.

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function bad<T = never>(expected: string): Parsed<T> {
  return { ok: false, expected };
}
