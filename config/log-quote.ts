// A value from a dependency (a Consul Service.ID, a Kubernetes slice name, ...) as it may appear
// inside a log message: JSON-quoted, so control characters and quotes cannot forge log
// lines or fields, and cut to a bounded length, so an id of any size cannot flood a log line.
// The full value, when wanted, belongs in a structured field, never in `msg`.

/** How many characters of a value a log message quotes before cutting it. */
export const LOG_QUOTE_MAX = 128;

// Escaped beyond JSON's own: DEL and C1 controls, line/paragraph separators, bidi overrides
// (a value that reorders how the rest of the line reads on a terminal).
const UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeUnsafe(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * `value` JSON-quoted, at most LOG_QUOTE_MAX characters of it, then `...(N more)`. A cut never
 * splits a surrogate pair: its first half alone would be quoted as a `\ud83d` escape, half a
 * character no reader can show, so the cut falls before the pair.
 */
export function quoteForLog(value: string, max = LOG_QUOTE_MAX): string {
  if (value.length <= max) return JSON.stringify(value).replace(UNSAFE, escapeUnsafe);
  const end =
    isHighSurrogate(value.charCodeAt(max - 1)) && isLowSurrogate(value.charCodeAt(max)) ? max - 1 : max;
  const q = JSON.stringify(value.slice(0, end)).replace(UNSAFE, escapeUnsafe);
  return `${q}...(${value.length - end} more)`;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
