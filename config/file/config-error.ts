// The error type every config check produces, and its one-line text form. Errors are data,
// never exceptions: a loader collects all of them so a user fixes a file in one pass.

import { printableLine } from "../printable.js";

export interface ConfigError {
  /** Field path like "pools.users.members[1].weight"; "" for the whole file. */
  path: string;
  expected: string;
  found: string;
  /** A readable sentence (includes expected/found and any hint such as "did you mean"). */
  message: string;
  /** 1-based position in the source file, when known. */
  line?: number;
  column?: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Renders a path as `a.b[1].c`; keys that are not identifiers are quoted: `pools["a.b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (IDENT.test(String(seg))) out += out === "" ? String(seg) : `.${String(seg)}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/** A short description of a value as the user wrote it, for "found ..." messages. */
export function describeFound(value: unknown): string {
  if (value === undefined) return "nothing (missing)";
  if (value === null) return "null";
  if (typeof value === "string") {
    return value.length > 60 ? `${JSON.stringify(value.slice(0, 57))}...` : JSON.stringify(value);
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? "" : "s"}`;
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

export function makeError(path: string, expected: string, found: string, message?: string): ConfigError {
  return { path, expected, found, message: message ?? `expected ${expected}, found ${found}` };
}

/**
 * One line per error: `file:line:col: path: message`, sorted by position in the file. The text
 * goes to a terminal (`validate`, `start`) and into a log line (a refused reload), and messages
 * quote what the file says: a control character in a key (ESC, CR, LF, a C1 CSI, a bidi
 * override) is shown as an escape, so the file can neither drive the terminal nor forge a line.
 */
export function formatConfigErrors(errors: readonly ConfigError[], sourceName?: string): string {
  const sorted = [...errors].sort(
    (a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
  );
  const lines: string[] = [];
  for (const e of sorted) {
    let where = sourceName ?? "";
    if (e.line !== undefined) where += `${where === "" ? "line " : ":"}${e.line}:${e.column ?? 1}`;
    const prefix = where === "" ? "" : `${where}: `;
    lines.push(printableLine(`${prefix}${e.path === "" ? "(top level)" : e.path}: ${e.message}`));
  }
  return lines.join("\n");
}
