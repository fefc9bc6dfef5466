// Maps a field path back to a line:column in the YAML source. Falls back to the deepest
// node that exists (a missing key is reported where its parent mapping starts).

import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from "yaml";

export function locate(
  doc: Document,
  lines: LineCounter,
  path: readonly PropertyKey[],
  atKey = false,
): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    keyNode = undefined;
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(seg),
      );
      if (pair !== undefined) {
        next = pair.value ?? pair.key;
        keyNode = pair.key;
      }
    } else if (isSeq(node) && typeof seg === "number") {
      next = node.items[seg];
    }
    if (next === undefined || next === null) break;
    node = next;
  }
  const target = (atKey && keyNode ? keyNode : node) as Node | null | undefined;
  const offset = target?.range?.[0];
  if (offset === undefined) return undefined;
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}
