// Micro-benchmarks of the per-request header work on the undici engine (issue 15, s12), each
// next to what it replaced, measured in the same process: `npm run bench -- head-micro`.
// CPU ns per request, median of interleaved passes after a warm-up.
//
//  - undici's `new Request` with the seven request headers shardgate forwards (Host, the
//    client's key header, X-Forwarded-For/-Proto/-Host, Forwarded, X-Request-Id), shardgate's
//    own names unknown to undici (each lowercased and, at 12+ characters, RegExp-tested) and
//    entered in its known-name table (undici-header-names.ts); the entries are taken out and
//    put back between passes;
//  - requestProtocolError (request-checks.ts) on requests whose Host is the one before them,
//    which now skips the character scan, next to requests alternating between two hosts of
//    different lengths, which scan every time as every request did before (plus a comparison
//    that fails at the length);
//  - stripRequestHopByHop (headers.ts) on requests whose raw names include none of the
//    hop-by-hop ones (only the raw names are scanned now) next to requests carrying a
//    Connection line, which probe the header object for all seven as every request did;
//  - the client's response head from an nginx answer's raw header pairs (responseHead), as a
//    figure of its own: its previous form is not kept in the tree (the commit that replaced it
//    quotes both, measured the same way);
//  - `new Request` with those headers as the header object (before) and as the flat list
//    undici-request-head.ts makes (the list's making included);
//  - that head written on a ServerResponse: `writeHead(status, list)` (Node validates each name
//    and value again) next to writeUndiciHead (undici-head-write.ts: from the response's header
//    table, not validated again, its list reused), each with the response's construction.

import { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { stripRequestHopByHop } from "../proxy/forward/headers.js";
import { requestProtocolError } from "../proxy/forward/request-checks.js";
import { type HeadExtras, responseHead } from "../proxy/forward/undici-head.js";
import { writeUndiciHead } from "../proxy/forward/undici-head-write.js";
import { OWN_REQUEST_HEADERS, registerOwnHeaderNames } from "../proxy/forward/undici-header-names.js";
import { requestHeaderList } from "../proxy/forward/undici-request-head.js";
import { checksum, median } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

const require = createRequire(import.meta.url);
type RequestCtor = new (origin: string, opts: object, handler: object) => { headers: unknown[] };
const UndiciRequest = require("undici/lib/core/request.js") as RequestCtor;
const table = (
  require("undici/lib/core/constants.js") as { headerNameLowerCasedRecord: Record<string, string> }
).headerNameLowerCasedRecord;

const PASSES = 15;
let sink = 0;

/** CPU ns per call of `pass` (which makes `n` calls). */
function cpuNs(n: number, pass: () => number): number {
  const c0 = process.cpuUsage();
  sink ^= pass();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / n;
}

const HANDLER = {
  onConnect() {},
  onHeaders: () => true,
  onData: () => true,
  onComplete() {},
  onError() {},
};

function requestHeaders(host = "127.0.0.1:8080"): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (let i = 0; i < 64; i++)
    out.push({
      host,
      "x-user": `u${i}`,
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "127.0.0.1:8080",
      forwarded: "for=127.0.0.1;host=127.0.0.1:8080;proto=http",
      "x-request-id": `5f3a9c1e02b7-${i}`,
    });
  return out;
}

function undiciRequests(n: number, headers: Array<Record<string, string>>, servername?: string): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const r = new UndiciRequest(
      "http://127.0.0.1:1",
      { path: "/", method: "GET", headers: headers[i & 63], body: null, servername },
      HANDLER,
    );
    s += r.headers.length;
  }
  return s;
}

function undiciRequestsFromList(n: number, headers: Array<Record<string, string>>): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const r = new UndiciRequest(
      "http://127.0.0.1:1",
      { path: "/", method: "GET", headers: requestHeaderList(headers[i & 63]), body: null, servername: "u" },
      HANDLER,
    );
    s += r.headers.length;
  }
  return s;
}

function setOwnNames(known: boolean): void {
  for (const name of OWN_REQUEST_HEADERS)
    if (known) table[name] = name;
    else delete table[name];
}

type RequestShape = Parameters<typeof requestProtocolError>[0];

function hostRequests(alternate: boolean): RequestShape[] {
  const out: RequestShape[] = [];
  for (let i = 0; i < 64; i++) {
    // A fresh string per request, as Node's parser gives (equal text, not the same object).
    const host = (alternate && (i & 1) === 1 ? " 127.0.0.1:18080" : " 127.0.0.1:8080").slice(1);
    out.push({
      httpVersionMajor: 1,
      httpVersionMinor: 1,
      rawHeaders: ["Host", host, "x-user", `u${i}`],
      headers: { host, "x-user": `u${i}` },
    } as unknown as RequestShape);
  }
  return out;
}

type HopShape = Parameters<typeof stripRequestHopByHop>[0];

/** Requests as Node parses them; with `connection`, each also carries `Connection: keep-alive`. */
function hopRequests(connection: boolean): HopShape[] {
  const out: HopShape[] = [];
  for (let i = 0; i < 64; i++) {
    const raw = ["Host", "127.0.0.1:8080", "x-user", `u${i}`];
    if (connection) raw.push("Connection", "keep-alive");
    const headers: Record<string, string> = {};
    for (let k = 0; k < raw.length; k += 2) headers[raw[k].toLowerCase()] = raw[k + 1];
    out.push({ rawHeaders: raw, headers } as unknown as HopShape);
  }
  return out;
}

function nginxHeads(): Buffer[][] {
  const pairs: Array<[string, string]> = [
    ["Server", "nginx/1.22.1"],
    ["Date", "Sun, 06 Dec 2026 04:40:00 GMT"],
    ["Content-Type", "application/octet-stream"],
    ["Content-Length", "15"],
    ["Connection", "keep-alive"],
  ];
  const out: Buffer[][] = [];
  for (let k = 0; k < 64; k++) {
    // Views into one received chunk, as undici's parser hands them over.
    const chunk = Buffer.from(
      `HTTP/1.1 200 OK\r\n${pairs.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`,
      "latin1",
    );
    const raw: Buffer[] = [];
    for (const [n, v] of pairs) {
      const at = chunk.indexOf(`${n}: `);
      raw.push(
        chunk.subarray(at, at + n.length),
        chunk.subarray(at + n.length + 2, at + n.length + 2 + v.length),
      );
    }
    out.push(raw);
  }
  return out;
}

const LIST: string[] = [];
const REQ = { method: "GET", httpVersionMajor: 1, httpVersionMinor: 1, headers: {} };

/** responseHead and the head written on a fresh response, as the data plane does per answer. */
function writeHeads(n: number, heads: Buffer[][], extras: HeadExtras, table: boolean): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const res = new ServerResponse(REQ as never);
    // The data plane now refills one list (before: a new list per head).
    const list = table ? responseHead(heads[i & 63], extras, LIST) : responseHead(heads[i & 63], extras);
    if (table) writeUndiciHead(res, 200, list, true);
    else res.writeHead(200, list);
    s += (res as unknown as { _header: string })._header.length;
  }
  return s;
}

export async function run(_argv: string[]): Promise<number> {
  registerOwnHeaderNames();
  const headers = requestHeaders();
  const named = requestHeaders("api.example.com");
  const sameHost = hostRequests(false);
  const twoHosts = hostRequests(true);
  const heads = nginxHeads();
  const extras: HeadExtras = {
    requestId: "5f3a9c1e02b7-1",
    memberHeader: "",
    member: "m1",
    ringVersionHeader: "",
    ringVersion: 3,
    issuedCookie: "",
    connection: "keep-alive",
  };
  const plainReqs = hopRequests(false);
  const connReqs = hopRequests(true);
  const ns: Record<string, number[]> = {
    unknown: [],
    known: [],
    scan: [],
    check: [],
    probe: [],
    skip: [],
    head: [],
    derived: [],
    given: [],
    derivedIp: [],
    givenIp: [],
    listHead: [],
    reqObject: [],
    reqList: [],
    tableHead: [],
  };
  const nReq = 100_000;
  const nHost = 500_000;
  const nHead = 200_000;
  for (let pass = 0; pass < PASSES + 2; pass++) {
    const keep = pass >= 2;
    setOwnNames(false);
    const unknown = cpuNs(nReq, () => undiciRequests(nReq, headers));
    setOwnNames(true);
    const known = cpuNs(nReq, () => undiciRequests(nReq, headers));
    const derived = cpuNs(nReq, () => undiciRequests(nReq, named));
    const given = cpuNs(nReq, () => undiciRequests(nReq, named, "upstream-1"));
    const derivedIp = cpuNs(nReq, () => undiciRequests(nReq, headers));
    const givenIp = cpuNs(nReq, () => undiciRequests(nReq, headers, "upstream-1"));
    const scan = cpuNs(nHost, () => {
      let s = 0;
      for (let i = 0; i < nHost; i++) if (requestProtocolError(twoHosts[i & 63]) === null) s++;
      return s;
    });
    const check = cpuNs(nHost, () => {
      let s = 0;
      for (let i = 0; i < nHost; i++) if (requestProtocolError(sameHost[i & 63]) === null) s++;
      return s;
    });
    // After the first pass the Connection lines are gone from the objects but not from the raw
    // names: those requests keep probing all seven keys, the cost every request had.
    const probe = cpuNs(nHost, () => {
      let s = 0;
      for (let i = 0; i < nHost; i++) {
        stripRequestHopByHop(connReqs[i & 63], false);
        s += connReqs[i & 63].rawHeaders.length;
      }
      return s;
    });
    const skip = cpuNs(nHost, () => {
      let s = 0;
      for (let i = 0; i < nHost; i++) {
        stripRequestHopByHop(plainReqs[i & 63], false);
        s += plainReqs[i & 63].rawHeaders.length;
      }
      return s;
    });
    const head = cpuNs(nHead, () => {
      let s = 0;
      for (let i = 0; i < nHead; i++) s += responseHead(heads[i & 63], extras).length;
      return s;
    });
    const reqObject = cpuNs(nReq, () => undiciRequests(nReq, headers, "u"));
    const reqList = cpuNs(nReq, () => undiciRequestsFromList(nReq, headers));
    const listHead = cpuNs(nHead, () => writeHeads(nHead, heads, extras, false));
    const tableHead = cpuNs(nHead, () => writeHeads(nHead, heads, extras, true));
    if (!keep) continue;
    ns.listHead.push(listHead);
    ns.reqObject.push(reqObject);
    ns.reqList.push(reqList);
    ns.tableHead.push(tableHead);
    ns.unknown.push(unknown);
    ns.known.push(known);
    ns.scan.push(scan);
    ns.check.push(check);
    ns.probe.push(probe);
    ns.skip.push(skip);
    ns.head.push(head);
    ns.derived.push(derived);
    ns.given.push(given);
    ns.derivedIp.push(derivedIp);
    ns.givenIp.push(givenIp);
  }
  const row = (what: string, impl: string, xs: number[]): void =>
    console.log(`${what.padEnd(46)}${impl.padEnd(44)}${median(xs).toFixed(0).padStart(8)} ns`);
  console.log(`header work per request, CPU ns, median of ${PASSES} interleaved passes`);
  row("undici new Request, shardgate's 7 headers", "own names unknown to undici (before)", ns.unknown);
  row("", "own names in its table (undici-header-names)", ns.known);
  row("undici new Request, Host api.example.com", "servername derived from Host (before)", ns.derived);
  row("", "servername given (the member's host)", ns.given);
  row("undici new Request, Host 127.0.0.1:8080", "servername derived from Host (before)", ns.derivedIp);
  row("", "servername given (the member's host)", ns.givenIp);
  row("undici new Request, the same headers", "as the header object (before)", ns.reqObject);
  row("", "as a flat list (undici-request-head)", ns.reqList);
  row("requestProtocolError", "two hosts alternating (scanned, as before)", ns.scan);
  row("", "the same host (last valid Host matches)", ns.check);
  row("stripRequestHopByHop", "Connection among the raw names (7 probes)", ns.probe);
  row("", "no hop-by-hop raw name (raw scan only)", ns.skip);
  row("response head, nginx answer (5 headers)", "responseHead", ns.head);
  row("  + new ServerResponse and its writeHead", "writeHead(status, list) (before)", ns.listHead);
  row("", "from the header table (undici-head-write)", ns.tableHead);
  console.log(
    `ratios: request list ${(median(ns.reqList) / median(ns.reqObject)).toFixed(2)}x, head written ${(median(ns.tableHead) / median(ns.listHead)).toFixed(2)}x, Request ${(median(ns.known) / median(ns.unknown)).toFixed(2)}x, servername ${(median(ns.given) / median(ns.derived)).toFixed(2)}x / ${(median(ns.givenIp) / median(ns.derivedIp)).toFixed(2)}x (IP Host), Host ${(median(ns.check) / median(ns.scan)).toFixed(2)}x, hop-by-hop ${(median(ns.skip) / median(ns.probe)).toFixed(2)}x (sink ${(sink ^ checksum()) & 1})`,
  );
  return 0;
}

runIfMain(import.meta.url, run);
