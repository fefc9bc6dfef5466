// `${VAR}` / `${VAR:-default}` substitution in the string values of a parsed YAML document
// (never in keys), done on the syntax tree so positions survive for error messages.
//
// The rule, the same for every field: an unset variable becomes "" and the field's own
// validation decides whether "" is acceptable (admin.token accepts it and means "mutating
// admin endpoints disabled"; an address does not, and its error names the variable).
// `${VAR:-default}` uses the default when VAR is unset or empty, as in the shell.
// `$${` is a literal `${`.

import { type Document, isMap, isScalar, isSeq, type LineCounter, type Node } from "yaml";
import type { ConfigError } from "./config-error.js";
import { formatPath } from "./config-error.js";
import { replaceVarRefs } from "./var-refs.js";

export interface InterpolationResult {
  errors: ConfigError[];
  /** Path (formatted) -> variables that were unset where that value was built. */
  unset: Map<string, string[]>;
  /** Formatted paths of every value that contained a substitution. */
  substituted: Set<string>;
}

const VAR = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;
// biome-ignore lint/suspicious/noTemplateCurlyInString: this text shows users the ${VAR} syntax
const EXPECTED = '"${NAME}" or "${NAME:-default}" (write "$${" for a literal "${")';

export function interpolateDocument(
  doc: Document,
  env: NodeJS.ProcessEnv,
  lines: LineCounter,
): InterpolationResult {
  const result: InterpolationResult = { errors: [], unset: new Map(), substituted: new Set() };

  const visit = (node: unknown, path: PropertyKey[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        visit(pair.value, [...path, String(key)]);
      }
    } else if (isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) visit(node.items[i], [...path, i]);
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("${")) {
      substitute(node as Node & { value: string }, path);
    }
    // Aliases need nothing: they resolve to an anchored node, visited where it is defined.
  };

  const substitute = (node: Node & { value: string }, path: PropertyKey[]): void => {
    const where = formatPath(path);
    const missing: string[] = [];
    let bad = false;
    const text = replaceVarRefs(node.value, (whole, inner) => {
      if (whole === "$${") return "${";
      const m = inner === undefined ? null : VAR.exec(inner);
      if (m === null) {
        bad = true;
        return whole;
      }
      const value = env[m[1]];
      if (m[2] !== undefined && (value === undefined || value === "")) return m[2];
      if (value === undefined) {
        missing.push(m[1]);
        return "";
      }
      return value;
    });
    if (bad) {
      const pos = node.range ? lines.linePos(node.range[0]) : undefined;
      result.errors.push({
        path: where,
        expected: EXPECTED,
        found: JSON.stringify(node.value),
        message: `bad variable reference: expected ${EXPECTED}, found ${JSON.stringify(node.value)}`,
        line: pos?.line,
        column: pos?.col,
      });
      return;
    }
    node.value = text;
    result.substituted.add(where);
    if (missing.length > 0) result.unset.set(where, missing);
  };

  visit(doc.contents, []);
  return result;
}
