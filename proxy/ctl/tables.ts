// Plain-text tables for `shardgate ctl`: left-aligned columns, a header row, two spaces apart.
// Cells hold strings from an admin API (ids, addresses, reasons), and the answer may come from
// anything `--admin` points at: a cell is printed so that it can neither drive the terminal
// (an ESC sequence retitling the window or clearing the screen, a CR overwriting the row, a bidi
// override reversing what follows) nor push every column off the screen. `--json` keeps the
// exact values.

import { printableLine } from "../../config/printable.js";

/** Longer cells are cut: a member id (128) and any practical address fit. */
export const MAX_CELL = 160;

/** What JSON.stringify leaves raw of what printableLine escapes (it escapes C0 and lone surrogates itself). */
const RAW_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Pretty JSON whose text is terminal-safe too: JSON.stringify escapes C0 controls but writes
 * C1 controls, bidi and zero-width characters raw; here they are \uXXXX escapes (the same JSON).
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    RAW_IN_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function cellText(c: unknown): string {
  return c === undefined || c === null ? "-" : printableLine(String(c), MAX_CELL);
}

/** Display width of a cell already made terminal-safe (one column per code point). */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function table(header: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cells = [header.map(cellText), ...rows.map((r) => r.map(cellText))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ""))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i] - width(c))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
