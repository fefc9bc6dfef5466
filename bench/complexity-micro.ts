// Cost per input byte of every parser a client (or a peer) feeds on the request path, at size n
// and 10n: `npm run bench -- complexity [--quick]`. Each candidate is a hostile input family
// (8,000 empty cookies, 100,000 "&", 10,000 path segments, thousands of trusted
// X-Forwarded-For entries, ...) built at two sizes within the listener's limits; the figure
// is the median ns per call at each size and their ratio. A linear parser shows ~10x for 10x
// the bytes; over 20x (linear within 2x) is flagged SUPER-LINEAR and the run exits 1.
// The peer measured in the same run is URLSearchParams on the same query (what a full parse
// would cost), so a reader can tell a slow machine from a slow parser.

import type { IncomingMessage } from "node:http";
import { defaultTextMapGetter, ROOT_CONTEXT } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { parseHealthEntries } from "../health/consul-members.js";
import { parseEndpointSlices } from "../health/kubernetes-members.js";
import { checkAdminToken } from "../proxy/admin/auth.js";
import { redactTarget } from "../proxy/admin/redact.js";
import { decodeAppMessage } from "../proxy/cluster/app-messages.js";
import { stripRequestHopByHop } from "../proxy/forward/headers.js";
import { responseHead } from "../proxy/forward/undici-head.js";
import { forwardedFor } from "../proxy/routing/forwarded.js";
import {
  clientAddress,
  compileTrusted,
  cookieValue,
  extractKey,
  type KeyPlan,
  pathSegment,
  queryValue,
  redactPathSegments,
} from "../proxy/routing/key-extract.js";
import { queryValueV3 } from "../proxy/routing/key-extract-v3.js";
import { canonicalKeyText } from "../proxy/routing/key-text.js";
import { normalizePath } from "../proxy/routing/normalize-path.js";
import { parseProxyHeader } from "../proxy/server/proxy-protocol.js";
import { runIfMain } from "./run-if-main.js";

const propagator = new W3CTraceContextPropagator();

/** Over this ratio for 10x the input, a candidate is super-linear (linear within 2x). */
export const LIMIT_RATIO = 20;

export interface Candidate {
  readonly name: string;
  /** The two sizes (units of the family: pairs, segments, entries, bytes). */
  readonly sizes: readonly [number, number];
  /** A call on the input of size `n`; returns something to fold into the checksum. */
  build(n: number): () => unknown;
}

function fakeRequest(
  url: string,
  headers: Record<string, string | string[]>,
  peer = "10.0.0.1",
): IncomingMessage {
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(headers))
    for (const line of Array.isArray(v) ? v : [v]) rawHeaders.push(k, line);
  return { url, headers, rawHeaders, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
}

function plan(keys: KeyPlan["keys"]): KeyPlan {
  return { keys, trusted: null, pathKeySegments: [], rules: "v4" };
}

const TRUSTED = compileTrusted([
  { address: "10.0.0.0", prefix: 8, family: "ipv4" },
  { address: "fc00::", prefix: 7, family: "ipv6" },
]);

/** Cookie header (16 KiB default maxHeaderSize): 400 and 4,000 `a=;` pairs, or one huge cookie. */
export const CANDIDATES: readonly Candidate[] = [
  {
    name: "cookie key: N empty `a=;` pairs, name absent",
    sizes: [400, 4_000],
    build: (n) => {
      const h = "a=; ".repeat(n);
      return () => cookieValue(h, "sid=");
    },
  },
  {
    name: "cookie key: N `sid` near-misses (`xsid=1; `)",
    sizes: [400, 4_000],
    build: (n) => {
      const h = `${"xsid=1; ".repeat(n)}sid=v`;
      return () => cookieValue(h, "sid=");
    },
  },
  {
    name: "cookie key: one cookie of N bytes",
    sizes: [1_500, 15_000],
    build: (n) => {
      const h = `sid=${"v".repeat(n)}`;
      return () => cookieValue(h, "sid=");
    },
  },
  {
    name: "query key: N `&`, no `%` (request line 8 KiB)",
    sizes: [800, 8_000],
    build: (n) => {
      const url = `/p?${"&".repeat(n)}`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: `%` then N `&` (names compared decoded)",
    sizes: [800, 8_000],
    build: (n) => {
      const url = `/p?%41&${"&".repeat(n)}`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: `%` then N `a` pairs without `=`",
    sizes: [400, 4_000],
    build: (n) => {
      const url = `/p?%41&${"a&".repeat(n)}`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: `%`, N pairs without `=`, the key last",
    sizes: [400, 4_000],
    build: (n) => {
      const url = `/p?%41&${"a&".repeat(n)}user=7`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: N `a=1&` then the key",
    sizes: [200, 2_000],
    build: (n) => {
      const url = `/p?${"a=1&".repeat(n)}user=7`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: N `%75ser=` near-misses (`%75sex=1&`)",
    sizes: [80, 800],
    build: (n) => {
      const url = `/p?${"%75sex=1&".repeat(n)}%75ser=7`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: N `xuser=1&` near-misses",
    sizes: [100, 1_000],
    build: (n) => {
      const url = `/p?${"xuser=1&".repeat(n)}user=7`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key: value of N bad escapes `%zz`",
    sizes: [250, 2_500],
    build: (n) => {
      const url = `/p?user=${"%zz".repeat(n)}`;
      return () => queryValue(url, "user=");
    },
  },
  {
    name: "query key (level 3): N `&`",
    sizes: [800, 8_000],
    build: (n) => {
      const url = `/p?%41&${"&".repeat(n)}`;
      return () => queryValueV3(url, "user=");
    },
  },
  {
    name: "path key: N segments, key the last",
    sizes: [400, 4_000],
    build: (n) => {
      const url = "/a".repeat(n);
      return () => pathSegment(url, n);
    },
  },
  {
    name: "path redaction: N segments, two keyed",
    sizes: [400, 4_000],
    build: (n) => {
      const url = "/a".repeat(n);
      return () => redactPathSegments(url, [2, n]);
    },
  },
  {
    name: "path normalisation: N `/..`",
    sizes: [250, 2_500],
    build: (n) => {
      const url = `/x${"/a/..".repeat(n)}`;
      return () => normalizePath(url);
    },
  },
  {
    name: "path normalisation: N `%2e` escapes",
    sizes: [250, 2_500],
    build: (n) => {
      const url = `/${"%2e%2F".repeat(n)}`;
      return () => normalizePath(url);
    },
  },
  {
    name: "ip key: X-Forwarded-For of N trusted entries",
    sizes: [150, 1_500],
    build: (n) => {
      const req = fakeRequest("/", { "x-forwarded-for": Array(n).fill("10.1.2.3").join(", ") });
      return () => clientAddress(req, TRUSTED);
    },
  },
  {
    name: "ip key: X-Forwarded-For of N trusted IPv6 entries",
    sizes: [80, 800],
    build: (n) => {
      const req = fakeRequest("/", { "x-forwarded-for": Array(n).fill("[FC00:0:0::1]:443").join(",") });
      return () => clientAddress(req, TRUSTED);
    },
  },
  {
    name: "ip key: Forwarded of N trusted elements",
    sizes: [100, 1_000],
    build: (n) => {
      const req = fakeRequest("/", { forwarded: Array(n).fill('for="10.1.2.3";proto=http').join(",") });
      return () => clientAddress(req, TRUSTED);
    },
  },
  {
    name: "Forwarded: one quoted value of N bytes",
    sizes: [1_500, 15_000],
    build: (n) => {
      const h = `for="${"\\a".repeat(n >> 1)}"`;
      return () => forwardedFor(h);
    },
  },
  {
    name: "Forwarded: N empty elements `,`",
    sizes: [1_500, 15_000],
    build: (n) => {
      const h = ",".repeat(n);
      return () => forwardedFor(h);
    },
  },
  {
    name: "header key: N repeated lines (joined)",
    sizes: [200, 2_000],
    build: (n) => {
      const req = fakeRequest("/", { "x-user": Array(n).fill("abcdef") });
      const p = plan([{ kind: "header", name: "x-user", host: false, h2Lines: false }]);
      return () => extractKey(p, req);
    },
  },
  {
    name: "hop-by-hop: Connection naming N tokens",
    sizes: [300, 3_000],
    build: (n) => {
      const conn = Array.from({ length: n }, (_, i) => `x${i}`).join(",");
      return () => {
        const req = fakeRequest("/", { connection: conn, "x-1": "1" });
        stripRequestHopByHop(req, false);
        return req.headers;
      };
    },
  },
  {
    name: "upstream answer: N headers and a Connection naming N of them",
    sizes: [60, 600],
    build: (n) => {
      const raw: Buffer[] = [];
      for (let i = 0; i < n; i++) raw.push(Buffer.from(`x-h${i}`), Buffer.from("v"));
      raw.push(
        Buffer.from("connection"),
        Buffer.from(Array.from({ length: n }, (_, i) => `x-h${i}`).join(",")),
      );
      const extras = {
        requestId: "r",
        memberHeader: "",
        member: "",
        ringVersionHeader: "",
        ringVersion: 0,
        issuedCookie: "",
        connection: "keep-alive",
      };
      const out: string[] = [];
      return () => responseHead(raw, extras, out).length;
    },
  },
  {
    name: "tracing: traceparent and tracestate of N bytes each (W3C propagator)",
    sizes: [1_500, 15_000],
    build: (n) => {
      const headers = {
        traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01-${" ".repeat(n)}x`,
        tracestate: Array.from({ length: n >> 3 }, (_, i) => `k${i}=v`).join(","),
      };
      return () => propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    },
  },
  {
    name: "admin auth: `Bearer` + N tabs + `x y`",
    sizes: [1_500, 15_000],
    build: (n) => {
      const req = fakeRequest("/", { authorization: `Bearer${"\t".repeat(n)}x y` });
      return () => checkAdminToken(req, "t".repeat(32));
    },
  },
  {
    name: "admin log redaction: N query params",
    sizes: [800, 8_000],
    build: (n) => {
      const url = `/admin/route?${"token=1&".repeat(n)}`;
      return () => redactTarget(url);
    },
  },
  {
    name: "admin route key text: an address key of N bytes",
    sizes: [1_500, 15_000],
    build: (n) => {
      const key = `[${"1:".repeat(n >> 1)}]:1`;
      return () => canonicalKeyText(key, "ip");
    },
  },
  {
    name: "PROXY v2: header with TLVs of N bytes (cap 1,024)",
    sizes: [100, 1_000],
    build: (n) => {
      const buf = Buffer.alloc(16 + 12 + n);
      Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(buf);
      buf[12] = 0x21;
      buf[13] = 0x11;
      buf.writeUInt16BE(12 + n, 14);
      return () => parseProxyHeader(buf);
    },
  },
  {
    name: "cluster message: outcomes batch of N entries for one member",
    sizes: [200, 2_000],
    build: (n) => {
      const e = {
        pool: "p",
        member: "m",
        success: 1,
        failure: 0,
        consecutive: 0,
        maxConsecutive: 0,
        connectErrors: 0,
        resets: 0,
        timeouts: 0,
      };
      const bytes = new TextEncoder().encode(
        JSON.stringify({ v: 1, kind: "outcomes", entries: Array(n).fill(e) }),
      );
      return () => decodeAppMessage(bytes);
    },
  },
  {
    name: "Consul answer: N entries of one Service.ID on one node",
    sizes: [100, 1_000],
    build: (n) => {
      const entry = (i: number) => ({
        Node: { Node: "n1", Address: "10.0.0.1" },
        Service: { ID: "web", Port: 80 + (i % 2), Tags: ["a", "b"], Meta: { k: "v" } },
        Checks: [{ Status: "passing" }],
      });
      const body = Array.from({ length: n }, (_, i) => entry(i));
      return () => parseHealthEntries(body, false).members.size;
    },
  },
  {
    name: "Consul answer: one entry with N tags",
    sizes: [300, 3_000],
    build: (n) => {
      const tags = Array.from({ length: n }, (_, i) => `t${i}`);
      const body = [
        {
          Node: { Node: "n1", Address: "10.0.0.1" },
          Service: { ID: "web", Port: 80, Tags: tags },
          Checks: [],
        },
      ];
      return () => parseHealthEntries(body, false).members.size;
    },
  },
  {
    name: "Kubernetes: N endpoints of one pod name (different uids)",
    sizes: [100, 1_000],
    build: (n) => {
      const endpoints = Array.from({ length: n }, (_, i) => ({
        addresses: ["10.0.0.1"],
        targetRef: { name: "pod", uid: `u${i}` },
        conditions: { ready: i % 2 === 0 },
      }));
      const slices = [{ metadata: { name: "s" }, ports: [{ name: "http", port: 80 }], endpoints }];
      return () => parseEndpointSlices(slices, "http").members.size;
    },
  },
];

/** Peer: URLSearchParams parsing the same `&`-query in full (linear; what "a full parse" costs). */
const PEER: Candidate = {
  name: "peer URLSearchParams: `%` then N `&`",
  sizes: [800, 8_000],
  build: (n) => {
    const q = `%41&${"&".repeat(n)}`;
    return () => new URLSearchParams(q).get("user");
  },
};

let sink = 0;

/** How many calls of `call` take about `budgetMs` (at least 1). */
function callsFor(call: () => unknown, budgetMs: number): number {
  let calls = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) if (call() !== undefined) sink++;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= budgetMs / 4 || calls >= 1 << 20) return calls;
    calls *= 4;
  }
}

function pass(call: () => unknown, calls: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) if (call() !== undefined) sink++;
  return Number(process.hrtime.bigint() - t0) / calls;
}

export interface Figure {
  readonly name: string;
  readonly sizes: readonly [number, number];
  readonly ns: readonly [number, number];
  readonly ratio: number;
}

/**
 * ns per call at both sizes: passes of the two sizes interleaved, the fastest pass of each
 * kept (the machine is shared: other load only ever adds time, so the minimum is the figure
 * least disturbed by it).
 */
export function measure(c: Candidate, passes = 7, budgetMs = 40): Figure {
  const small = c.build(c.sizes[0]);
  const large = c.build(c.sizes[1]);
  const smallCalls = callsFor(small, budgetMs);
  const largeCalls = callsFor(large, budgetMs);
  let a = Number.POSITIVE_INFINITY;
  let b = Number.POSITIVE_INFINITY;
  for (let p = 0; p < passes; p++) {
    a = Math.min(a, pass(small, smallCalls));
    b = Math.min(b, pass(large, largeCalls));
  }
  return { name: c.name, sizes: c.sizes, ns: [a, b], ratio: b / a };
}

function fmt(ns: number): string {
  return ns >= 1e6
    ? `${(ns / 1e6).toFixed(2)} ms`
    : ns >= 1e3
      ? `${(ns / 1e3).toFixed(1)} us`
      : `${ns.toFixed(0)} ns`;
}

export async function run(argv: string[]): Promise<number> {
  const quick = argv.includes("--quick");
  const only = argv.find((a) => !a.startsWith("--"));
  const passes = quick ? 3 : 7;
  const budget = quick ? 15 : 40;
  let bad = 0;
  console.log("candidate | n | 10n | ns/call at n | at 10n | ratio (linear ~10, limit 20)");
  for (const c of [...CANDIDATES, PEER]) {
    if (only !== undefined && !c.name.includes(only)) continue;
    const f = measure(c, passes, budget);
    const flag = f.ratio > LIMIT_RATIO ? "  SUPER-LINEAR" : "";
    if (flag !== "" && c !== PEER) bad++; // the peer is a reference, not a verdict
    console.log(
      `${f.name} | ${f.sizes[0]} | ${f.sizes[1]} | ${fmt(f.ns[0])} | ${fmt(f.ns[1])} | ${f.ratio.toFixed(1)}x${flag}`,
    );
  }
  console.log(`(checksum ${sink})`);
  return bad === 0 ? 0 : 1;
}

runIfMain(import.meta.url, run);
