// The lines of a block sequence (a pool's `members:`) split into its items by indentation
// alone, for the incremental load (incremental-load.ts). It only answers for lists whose every
// item's value depends on nothing but that item's own text: each content line must be
// self-contained (quotes and flow brackets closed on the line, no anchors, aliases, tags,
// block scalars, directives, `${...}`, explicit keys or merge keys, no tabs or CRs), so an item
// can be parsed on its own and unchanged item text means an unchanged member. Anything else
// is null, and the caller loads the file the full way.

export interface ListLines {
  /** Column of the items' `-`. */
  readonly indent: number;
  /** First line after the list: content indented less than the items, or the text's end. */
  readonly end: number;
  /** Item i is lines [starts[i], ends[i]): its `-` line through its last content line. */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

export function indentOf(line: string): number {
  let i = 0;
  while (i < line.length && line.charCodeAt(i) === 32) i++;
  return i;
}

/** Blank or comment-only (spaces, tabs and CRs count as blank, as trimStart would). */
export function isFiller(line: string): boolean {
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return c === 35; // '#'
    i++;
  }
  return true;
}

function isItemStart(line: string, indent: number): boolean {
  return line.charCodeAt(indent) === 45 && (line.length === indent + 1 || line.charCodeAt(indent + 1) === 32);
}

// What each character means to the scan below, by char code (every line of a 5,000-member
// list is scanned on each reload, so no per-character strings or set lookups).
const PLAIN = 0;
const REFUSE = 1; // outside quotes: &, *, !, |, >, %, @, `, ?; anywhere: $, tab, CR
const DQUOTE = 2;
const SQUOTE = 3;
const OPEN = 4;
const CLOSE = 5;
const HASH = 6;
const KIND = new Uint8Array(128);
for (const c of "&*!|>%@`?$\t\r") KIND[c.charCodeAt(0)] = REFUSE;
KIND[34] = DQUOTE;
KIND[39] = SQUOTE;
KIND[123] = OPEN; // {
KIND[91] = OPEN; // [
KIND[125] = CLOSE; // }
KIND[93] = CLOSE; // ]
KIND[35] = HASH;

/**
 * True when `line`'s YAML meaning is its own: quotes and flow collections closed on it, none of
 * the REFUSE characters outside quotes, no `$` (`${VAR}`), `<<`, tab or CR anywhere.
 */
export function selfContained(line: string): boolean {
  if (line.includes("$") || line.includes("<<") || line.includes("\t") || line.includes("\r")) return false;
  let depth = 0;
  const n = line.length;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    const kind = c < 128 ? KIND[c] : PLAIN;
    if (kind === PLAIN) continue;
    if (kind === DQUOTE) {
      i++;
      while (i < n && line.charCodeAt(i) !== 34) i += line.charCodeAt(i) === 92 ? 2 : 1;
      if (i >= n) return false;
    } else if (kind === SQUOTE) {
      i++;
      while (i < n && line.charCodeAt(i) !== 39) i++;
      if (i >= n) return false;
    } else if (kind === HASH) {
      if (i === 0 || line.charCodeAt(i - 1) === 32) break; // a comment to the line's end
    } else if (kind === OPEN) depth++;
    else if (kind === CLOSE) {
      if (--depth < 0) return false;
    } else return false;
  }
  return depth === 0;
}

/**
 * The items of the block sequence starting at line `from` under a key indented `keyIndent`,
 * or null when it is not a list whose items stand alone (see the header), when the items are
 * not indented deeper than the key, or when the list ends on content indented between the key
 * and the items. Only lines in [checkFrom, checkTo) are checked to be self-contained: the
 * caller vouches for the others (lines it found identical to a list that passed the check).
 */
export function listLines(
  lines: readonly string[],
  from: number,
  keyIndent: number,
  checkFrom = 0,
  checkTo = lines.length,
): ListLines | null {
  let indent = -1;
  const starts: number[] = [];
  const ends: number[] = [];
  let lastContent = -1;
  let i = from;
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (isFiller(line)) {
      if (line.includes("\t") || line.includes("\r")) return null;
      continue;
    }
    const n = indentOf(line);
    if (indent < 0) {
      if (n <= keyIndent || !isItemStart(line, n)) return null;
      indent = n;
    }
    if (n < indent) break;
    if (n === indent) {
      if (!isItemStart(line, n)) return null;
      if (starts.length > 0) ends.push(lastContent + 1);
      starts.push(i);
    }
    if (i >= checkFrom && i < checkTo && !selfContained(line)) return null;
    lastContent = i;
  }
  if (indent < 0) return null;
  if (i < lines.length && indentOf(lines[i]) > keyIndent) return null;
  ends.push(lastContent + 1);
  return { indent, end: i, starts, ends };
}

/** Whether item `a` of list `la` in `x` has the same lines as item `b` of `lb` in `y`. */
export function sameItem(
  x: readonly string[],
  la: ListLines,
  a: number,
  y: readonly string[],
  lb: ListLines,
  b: number,
): boolean {
  const sa = la.starts[a];
  const sb = lb.starts[b];
  const len = la.ends[a] - sa;
  if (lb.ends[b] - sb !== len) return false;
  for (let k = 0; k < len; k++) if (x[sa + k] !== y[sb + k]) return false;
  return true;
}

/** Item `i`'s text with the list's indentation removed: a one-item sequence at column 0. */
export function itemText(lines: readonly string[], list: ListLines, i: number): string {
  const out: string[] = [];
  for (let k = list.starts[i]; k < list.ends[i]; k++) {
    const line = lines[k];
    out.push(line.slice(Math.min(indentOf(line), list.indent)));
  }
  return out.join("\n");
}
