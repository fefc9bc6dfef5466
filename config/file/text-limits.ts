// Limits checked on the config text before YAML parsing, so an absurd file is refused in
// linear time with a clear error instead of costing the parser time quadratic in its nesting
// (a 120 KB `[[[...]]]` took seconds; 150k levels took half a minute).
//
// Depth counts flow collections (`[`, `{`) open at once plus the block indentation levels of
// the line they start on; scalars in quotes and comments are skipped. A real shardgate config
// nests about 6 deep (pools.P.members[i].address), so 64 leaves room for YAML anchors under
// top-level `x-` keys.

/** Largest config file accepted, in bytes (a static list of 10,000 members is about 0.7 MB). */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Deepest nesting accepted (flow collections plus block indentation levels). */
export const MAX_CONFIG_DEPTH = 64;

export interface TextLimitError {
  readonly expected: string;
  readonly found: string;
  readonly message: string;
  readonly line?: number;
}

/** Null when `text` is within the limits, else why not. */
export function checkConfigText(text: string): TextLimitError | null {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_CONFIG_BYTES) {
    return {
      expected: `a config file of at most ${MAX_CONFIG_BYTES} bytes`,
      found: `${bytes} bytes`,
      message: `config file too large: ${bytes} bytes, at most ${MAX_CONFIG_BYTES}`,
    };
  }
  let flow = 0;
  let line = 1;
  let indentLevels = 0;
  let atLineStart = true;
  let spaces = 0;
  const indents: number[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      atLineStart = true;
      spaces = 0;
      continue;
    }
    if (atLineStart) {
      if (c === 0x20 || c === 0x2d /* - of a block sequence entry */) {
        spaces++;
        continue;
      }
      atLineStart = false;
      if (c !== 0x23 /* # */ && c !== 0x0d && flow === 0) {
        while (indents.length > 0 && indents[indents.length - 1] >= spaces) indents.pop();
        indents.push(spaces);
        indentLevels = indents.length;
        if (indentLevels > MAX_CONFIG_DEPTH) return tooDeep(line);
      }
    }
    const prev = i === 0 ? 0x0a : text.charCodeAt(i - 1);
    const separated = prev === 0x20 || prev === 0x09 || prev === 0x0a || prev === 0x2d;
    if (c === 0x23 && separated) {
      // A comment runs to the end of the line.
      while (i + 1 < n && text.charCodeAt(i + 1) !== 0x0a) i++;
    } else if (
      (c === 0x22 /* " */ || c === 0x27) /* ' */ &&
      (separated || prev === 0x5b || prev === 0x7b || prev === 0x2c || prev === 0x3a)
    ) {
      // A quoted scalar: skip to its closing quote (a backslash escapes in double quotes).
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x0a) line++;
        if (c === 0x22 && d === 0x5c) i++;
        else if (d === c) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      flow++;
      if (flow + indentLevels > MAX_CONFIG_DEPTH) return tooDeep(line);
    } else if ((c === 0x5d || c === 0x7d) && flow > 0) {
      flow--;
    }
  }
  return null;
}

function tooDeep(line: number): TextLimitError {
  return {
    expected: `nesting at most ${MAX_CONFIG_DEPTH} levels deep`,
    found: `more than ${MAX_CONFIG_DEPTH} levels`,
    message: `config nests deeper than ${MAX_CONFIG_DEPTH} levels (line ${line})`,
    line,
  };
}
