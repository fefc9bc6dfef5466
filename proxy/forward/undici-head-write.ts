// Writes the client's response head on the undici engine with as little of Node's per-line work
// as the lines need. `res.writeHead(status, list)` validates every name (a token RegExp) and
// every value (a character-class RegExp) again, about 0.15 us for an nginx answer's six lines
// (bench/head-micro.ts). The upstream's lines were already held to the same rules by undici's
// parser (llhttp refuses a name that is not a token and a value with a control character or
// DEL: the answer fails as upstream_bad_response and never reaches this code), and shardgate's
// own lines are made safe where they are made (request ids: request-id.ts; header names: the
// config schema; the ring version: digits). So the lines go into the response's own header
// table, where Node keeps what setHeader has already validated, and writeHead() writes them from
// there as it does for setHeader: the same bytes, in the same order, repeats kept as lines. The
// response holds the table only within writeHead (its slot is emptied after, the state Node's
// list path leaves), so one table, refilled, serves the next head with the same names.
// Falls back to `writeHead(status, list)` (validated) when this Node has no such table
// (node-internals.ts), for an HTTP/2 response (another class), a response that already holds
// headers, a value of shardgate's own that is not plainly safe (an issued cookie, a member id
// from discovery), a name repeated after another name (the table keeps a name's lines together,
// which would move it) and a repeated Cookie line (Node would join those into one).

import type { ServerResponse } from "node:http";
import { outHeadersKey } from "../server/node-internals.js";

/** The table's entries: a prototype without Object.prototype (as Node's own null-prototype table), but fast properties. */
function HeadTable(): void {}
HeadTable.prototype = Object.create(null);
type Table = Record<string, [string, string | string[]]>;

/** Whether `s` is a header value Node would accept: tab, visible ASCII, space and 0x80-0xff only. */
export function isPlainFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/**
 * The last table made for a head whose names were all distinct, its entries in order: the next
 * head with the same names in the same order (the usual case: one kind of upstream) refills
 * their values instead of making a table and an entry per line again (~400 B per response).
 * A response holds the table only within writeHead (its slot is emptied after, as Node's list
 * path leaves it), so one table serves every response in turn.
 */
let kept: Table | null = null;
let keptEntries: Array<[string, string | string[]]> = [];

/** Heads written from a table so far (tests read it: the table path was taken). */
let fromTable = 0;

export function headsFromTable(): number {
  return fromTable;
}

/** The kept table refilled with `list`'s values when its names are the list's, in order; else null. */
function refill(list: string[]): Table | null {
  const entries = keptEntries;
  if (kept === null || entries.length * 2 !== list.length) return null;
  for (let j = 0; j < entries.length; j++) if (entries[j][0] !== list[2 * j]) return null;
  for (let j = 0; j < entries.length; j++) entries[j][1] = list[2 * j + 1];
  return kept;
}

/**
 * Writes `status` and `list` (flat [name, value, ...], names lowercase, as responseHead makes it)
 * as `res`'s head. `checked`: every line of `list` is known to pass Node's checks (see the top
 * of this file); false makes Node check them (the documented path).
 */
export function writeUndiciHead(res: ServerResponse, status: number, list: string[], checked: boolean): void {
  const key = checked ? outHeadersKey() : null;
  const slots = res as unknown as Record<symbol, Table | null | undefined>;
  // null: an HTTP/1 response with no header set yet (an HTTP/2 response has no such field).
  if (key === null || slots[key] !== null) {
    res.writeHead(status, list);
    return;
  }
  let table = refill(list);
  if (table === null) {
    table = new (HeadTable as unknown as new () => Table)();
    const entries: Array<[string, string | string[]]> = [];
    let distinct = true;
    let last = "";
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i];
      const entry = table[name];
      if (entry === undefined) {
        const e: [string, string | string[]] = [name, list[i + 1]];
        table[name] = e;
        entries.push(e);
      } else if (name !== last || name === "cookie") {
        // The table writes a name's lines together: a repeat after another name would move.
        res.writeHead(status, list);
        return;
      } else {
        distinct = false;
        if (typeof entry[1] === "string") entry[1] = [entry[1], list[i + 1]];
        else entry[1].push(list[i + 1]);
      }
      last = name;
    }
    // Kept only when every entry holds one value: a refill writes strings.
    if (distinct) {
      kept = table;
      keptEntries = entries;
    }
  }
  slots[key] = table;
  try {
    res.writeHead(status);
    fromTable++;
  } finally {
    slots[key] = null;
  }
}
