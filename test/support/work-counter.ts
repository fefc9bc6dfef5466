// Counting a synchronous call's work instead of timing it, for the complexity tests
// (test/outside/complexity-*.test.ts): every character a string search (indexOf, lastIndexOf,
// includes) passes over, every charCodeAt read, the length of every slice, split, trim and
// Array join, the elements an Array includes/indexOf passes and a splice moves, and the input
// of every regex exec (test, replace, match and split with a regex call it). Exact and the same on a loaded machine, so a bound on it can be tight where a timer
// could not be. Node's own modules use primordials captured at start, so only our code and the
// libraries it calls are counted.

/** Work counted for one call: characters a string method passed over or produced. */
type Proto = Record<string, (this: string, ...args: unknown[]) => unknown>;

const proto = String.prototype as unknown as Proto;
const original = {
  indexOf: proto.indexOf,
  lastIndexOf: proto.lastIndexOf,
  includes: proto.includes,
  charCodeAt: proto.charCodeAt,
  slice: proto.slice,
  split: proto.split,
  trim: proto.trim,
};
const regexExec = RegExp.prototype.exec;
const arrayJoin = Array.prototype.join;
const arrayIncludes = Array.prototype.includes;
const arrayIndexOf = Array.prototype.indexOf;
const arraySplice = Array.prototype.splice;

function clamp(v: number, len: number): number {
  return Number.isFinite(v) ? Math.max(0, Math.min(len, Math.trunc(v))) : v > 0 ? len : 0;
}

/** Runs `fn` with String.prototype's searches and reads counted; the methods are restored after. */
export function countWork<T>(fn: () => T): { value: T; work: number } {
  let work = 0;
  proto.indexOf = function (this: string, search: unknown, from?: unknown) {
    const s = String(search);
    const start = clamp(Number(from ?? 0) || 0, this.length);
    const r = original.indexOf.call(this, s, start) as number;
    work += (r < 0 ? this.length : r + s.length) - start;
    return r;
  };
  proto.lastIndexOf = function (this: string, search: unknown, from?: unknown) {
    const s = String(search);
    const start = from === undefined ? this.length : clamp(Number(from) || 0, this.length);
    const r = original.lastIndexOf.call(this, s, start) as number;
    work += start + s.length - Math.max(r, 0);
    return r;
  };
  proto.includes = function (this: string, search: unknown, from?: unknown) {
    work += this.length;
    return original.includes.call(this, search, from);
  };
  proto.charCodeAt = function (this: string, i: unknown) {
    work++;
    return original.charCodeAt.call(this, i);
  };
  proto.slice = function (this: string, a?: unknown, b?: unknown) {
    const r = original.slice.call(this, a, b) as string;
    work += r.length;
    return r;
  };
  proto.split = function (this: string, sep?: unknown, limit?: unknown) {
    work += this.length;
    return original.split.call(this, sep, limit);
  };
  proto.trim = function (this: string) {
    work += this.length;
    return original.trim.call(this);
  };
  // test, replace, match and split with a regex all call exec (RegExpExec): its input is read.
  RegExp.prototype.exec = function (this: RegExp, input: string) {
    work += String(input).length;
    return regexExec.call(this, input);
  };
  Array.prototype.join = function (this: unknown[], sep?: string) {
    const r = arrayJoin.call(this, sep);
    work += r.length;
    return r;
  };
  // Array searches pass over the elements before the one found (all of them when none is);
  // a splice moves every element after the cut.
  Array.prototype.includes = function (this: unknown[], v: unknown, from?: number) {
    const i = arrayIndexOf.call(this, v, from);
    work += i < 0 ? this.length : i + 1;
    return arrayIncludes.call(this, v, from);
  };
  Array.prototype.indexOf = function (this: unknown[], v: unknown, from?: number) {
    const i = arrayIndexOf.call(this, v, from);
    work += i < 0 ? this.length : i + 1;
    return i;
  };
  Array.prototype.splice = function (this: unknown[], ...args: unknown[]) {
    const start = Number(args[0] ?? 0);
    work += Math.max(1, this.length - (start < 0 ? this.length + start : start));
    return arraySplice.apply(this, args as [number, number, ...unknown[]]);
  };
  try {
    return { value: fn(), work };
  } finally {
    Object.assign(proto, original);
    RegExp.prototype.exec = regexExec;
    Array.prototype.join = arrayJoin;
    Array.prototype.includes = arrayIncludes;
    Array.prototype.indexOf = arrayIndexOf;
    Array.prototype.splice = arraySplice;
  }
}
