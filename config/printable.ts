// Text from outside (a config file's keys and values, an admin API's ids, addresses and
// reasons) as it may reach a terminal or one line of output: every character that could drive
// the terminal (an ESC sequence retitling the window or clearing the screen, a C1 CSI, a CR
// overwriting the line, a LF forging a line of its own, a bidi override reversing what
// follows) is shown as an escape, and an absurdly long value is cut. A whole line's rule, where
// log-quote.ts quotes one value inside a log message.

/**
 * C0 and C1 controls and DEL (ESC, CSI, OSC, BEL, CR, LF, TAB...), the bidi embeddings,
 * overrides, isolates and marks, the line/paragraph separators, zero-width characters and the
 * BOM, and lone surrogates: each is shown as an escape (`\x1b`, `\u202e`), never sent as is.
 */
const UNPRINTABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeUnit(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
}

/**
 * The longest line shown by default: messages quote what they were given (a config key, a
 * command-line value), and a 1 MB one made a 1 MB line. The longest real message, an unknown
 * config key with every key its mapping allows, is about 400 characters.
 */
export const MAX_LINE = 2000;

/**
 * `s` on one line: unprintable characters escaped, cut at `max` characters (code points) shown.
 * The cut falls between characters of `s`, each whole as shown: an escape cut short (`\x1`, a
 * lone `\`) reads as other text, or as an escape the next output completes. `N more` counts
 * the characters of `s` left out, not of their escapes.
 */
export function printableLine(s: string, max = MAX_LINE): string {
  const shown = s.replace(UNPRINTABLE, escapeUnit);
  if (shown.length <= max) return shown;
  let out = "";
  let width = 0;
  let i = 0;
  while (i < s.length) {
    const n = isPair(s, i) ? 2 : 1;
    const c = s.slice(i, i + n);
    const piece = c.replace(UNPRINTABLE, escapeUnit);
    const w = piece === c ? 1 : piece.length;
    if (width + w > max) break;
    out += piece;
    width += w;
    i += n;
  }
  // Every character fit: `shown` was long in UTF-16 units only (surrogate pairs).
  if (i === s.length) return shown;
  let left = 0;
  for (let j = i; j < s.length; j += isPair(s, j) ? 2 : 1) left++;
  return `${out}...(${left} more)`;
}

/** Whether a surrogate pair (one character) starts at `s[i]`. */
function isPair(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdbff) return false;
  const d = s.charCodeAt(i + 1);
  return d >= 0xdc00 && d <= 0xdfff;
}

/** Several lines (a command's whole output or an error): each made printable, cut at `max`. */
export function printableLines(text: string, max = Number.POSITIVE_INFINITY): string {
  return text
    .split("\n")
    .map((line) => printableLine(line, max))
    .join("\n");
}
