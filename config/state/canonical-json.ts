// Canonical JSON: object keys sorted, no whitespace, undefined properties dropped. Two
// equal values always give the same string, so replicas can compare and hash state
// byte for byte whatever order their objects were built in.

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const s = JSON.stringify(value);
    // JSON.stringify(undefined) is undefined; as an array element JSON writes null.
    return s === undefined ? "null" : s;
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = "{";
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || typeof v === "function") continue;
    out += `${first ? "" : ","}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

const encoder = new TextEncoder();

export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

/** How many own properties of `obj` canonical JSON keeps (not undefined, not a function). */
function keptCount(obj: Record<string, unknown>): number {
  let n = 0;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const v = obj[k];
    if (v !== undefined && typeof v !== "function") n++;
  }
  return n;
}

/**
 * Whether two values have the same canonical JSON, without building either string: shared
 * subtrees are equal by identity and the walk stops at the first difference, so comparing a
 * 5,000-member pool with one that gained a member costs one length check. Allocates nothing
 * (a reload compares every member of a 5,000-member file with the committed one).
 * Conservative: it may answer false for values whose canonical forms coincide only through
 * JSON's lossy encoding (NaN vs null, undefined vs null as an element), never true for
 * different ones.
 */
export function canonicalEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!canonicalEqual(a[i], bb[i])) return false;
    return true;
  }
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  let n = 0;
  for (const k in oa) {
    if (!Object.hasOwn(oa, k)) continue;
    const v = oa[k];
    if (v === undefined || typeof v === "function") continue;
    n++;
    if (!Object.hasOwn(ob, k) || !canonicalEqual(v, ob[k])) return false;
  }
  return n === keptCount(ob);
}
