// A key given twice in one mapping. The YAML parser refuses it ("Map keys must be unique") at
// the second key's position but names neither the key nor where it sits; and the second value
// silently winning instead would let `timeouts:` written twice lose half a pool's settings.
// Each duplicate is reported with its field path and the line of the first occurrence.

import { isPair, isScalar, isSeq, type LineCounter, parseDocument, visit } from "yaml";
import { type ConfigError, formatPath } from "./config-error.js";

/** The duplicate keys of `text` (YAML that the parser refused for them), with their paths. */
export function duplicateKeyErrors(text: string, lines: LineCounter): ConfigError[] {
  // uniqueKeys off: every pair is kept, so the map can be walked for repeated keys.
  const doc = parseDocument(text, { uniqueKeys: false, merge: true });
  const out: ConfigError[] = [];
  visit(doc, {
    Map(_key, map, path) {
      const first = new Map<string, number>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const name = String(pair.key.value);
        const offset = pair.key.range?.[0] ?? 0;
        const seen = first.get(name);
        if (seen === undefined) {
          first.set(name, offset);
          continue;
        }
        const where = formatPath([...pathNames(path, map), name]);
        const pos = lines.linePos(offset);
        const firstLine = lines.linePos(seen).line;
        out.push({
          path: where,
          expected: "each key once per mapping",
          found: `"${name}" again (first at line ${firstLine})`,
          message: `duplicate key "${name}" (first at line ${firstLine}); give each key once`,
          line: pos.line,
          column: pos.col,
        });
      }
    },
  });
  return out;
}

/** The field names leading to `node` from the visitor's ancestor path. */
function pathNames(path: readonly unknown[], node: unknown): Array<string | number> {
  const names: Array<string | number> = [];
  const chain = [...path, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const here = chain[i];
    if (isPair(here) && isScalar(here.key)) names.push(String(here.key.value));
    else if (isSeq(here)) names.push(here.items.indexOf(chain[i + 1] as never));
  }
  return names;
}
