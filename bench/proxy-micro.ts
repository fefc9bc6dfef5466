// Micro-benchmarks of the proxy's per-request functions, each next to a named peer or a
// baseline measured in the same run: `node dist/bench/proxy-micro.js [--json]` (or with
// `--import tsx` on the .ts). Figures are ns per call, median of several timed passes after
// a warm-up, over pre-generated seeded inputs (no allocation in the timing loop but the
// function's own).
//
//  - key extraction + hash: extractKey + MurmurHash3 for header / cookie / query keys, next
//    to the bare forwarder's `req.headers[name]` + hash (floor), a split-based cookie parse
//    and `new URL(...).searchParams.get` (what code without a scanner does).
//  - route match: the compiled route table next to a linear scan of (host, prefix) pairs.
//  - chooseMember: next to the raw ring lookup (floor) and the `hashring` npm package's get().

import type { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { configSchema } from "../config/file/schema.js";
import { extractKey } from "../proxy/routing/key-extract.js";
import { chooseMember } from "../proxy/routing/member-choice.js";
import { LiveBook } from "../proxy/routing/pool-live.js";
import { buildRoutingState } from "../proxy/routing/routing-state.js";
import { hashKey } from "../ring/hash.js";
import { randomKeys } from "../ring/random.js";
import { checksum, nsPerCall } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

interface HashRingInstance {
  get(key: string): string | undefined;
}
const HashRing = createRequire(import.meta.url)("hashring") as new (servers: string[]) => HashRingInstance;

const SEED = 0x5eed;
const N = 20_000;
const REPEATS = 7;
/** ns per call of `pass` (which makes `n` calls and returns a checksum). */
function time(n: number, pass: () => number): number {
  return nsPerCall(n, REPEATS, pass);
}

function fakeReq(headers: Record<string, string>, url: string): IncomingMessage {
  return { headers, url, socket: { remoteAddress: "127.0.0.1" } } as unknown as IncomingMessage;
}

/** A cookie parse as written without a scanner: split on ";" and "=" for every pair. */
function splitCookie(header: string, name: string): string {
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return "";
}

interface Row {
  bench: string;
  impl: string;
  nsPerCall: number;
  vs?: string;
  ratio?: number;
}

export async function run(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const keys = randomKeys(SEED, N);
  const members = Array.from({ length: 8 }, (_, i) => ({ id: `m${i + 1}`, address: `10.0.0.${i + 1}:8080` }));
  const routes = [
    { match: { host: "api.example.com", pathPrefix: "/v1/" }, pool: "p", key: ["header:x-user"] },
    { match: { host: "api.example.com", pathPrefix: "/v2/" }, pool: "p", key: ["cookie:uid"] },
    { match: { host: "*.example.com", pathPrefix: "/static/" }, pool: "p", key: ["query:u"] },
    { match: { host: "*", pathPrefix: "/" }, pool: "p", key: ["header:x-user", "ip"] },
  ];
  const config = configSchema.parse({ pools: { p: { algorithm: "ring", members } }, routes });
  const state = buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 1 });
  const snapshot = state.pools.get("p");
  if (snapshot === undefined) throw new Error("pool p missing");
  const table = state.routeTable;
  const plans = table.routes.map((r) => r.keyPlan);
  const headerReqs = keys.map((k) => fakeReq({ host: "api.example.com", "x-user": k }, "/v1/items"));
  const cookieReqs = keys.map((k) =>
    fakeReq({ host: "api.example.com", cookie: `theme=dark; uid=${k}; lang=en` }, "/v2/items"),
  );
  const queryReqs = keys.map((k) => fakeReq({ host: "cdn.example.com" }, `/static/app.js?v=3&u=${k}&x=1`));
  const rows: Row[] = [];
  const add = (bench: string, impl: string, ns: number, vs?: Row): Row => {
    const row: Row = { bench, impl, nsPerCall: ns };
    if (vs !== undefined) {
      row.vs = vs.impl;
      row.ratio = ns / vs.nsPerCall;
    }
    rows.push(row);
    return row;
  };

  // Key extraction + hash.
  const hPlan = plans[0];
  const floor = add(
    "key+hash header",
    "bare: req.headers[name] + hash",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += hashKey(headerReqs[i].headers["x-user"] as string);
      return acc;
    }),
  );
  add(
    "key+hash header",
    "shardgate extractKey + hash",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += hashKey(extractKey(hPlan, headerReqs[i]));
      return acc;
    }),
    floor,
  );
  const cPlan = plans[1];
  const cSplit = add(
    "key+hash cookie",
    "split-based cookie parse + hash",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += hashKey(splitCookie(cookieReqs[i].headers.cookie as string, "uid"));
      return acc;
    }),
  );
  add(
    "key+hash cookie",
    "shardgate extractKey + hash",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += hashKey(extractKey(cPlan, cookieReqs[i]));
      return acc;
    }),
    cSplit,
  );
  const qPlan = plans[2];
  const qUrl = add(
    "key+hash query",
    "new URL().searchParams.get + hash",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++)
        acc += hashKey(new URL(queryReqs[i].url as string, "http://x").searchParams.get("u") ?? "");
      return acc;
    }),
  );
  add(
    "key+hash query",
    "shardgate extractKey + hash",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += hashKey(extractKey(qPlan, queryReqs[i]));
      return acc;
    }),
    qUrl,
  );

  // Route match over a mix of the four routes' requests.
  const mix = [headerReqs, cookieReqs, queryReqs].flatMap((rs) => rs.slice(0, N / 4));
  for (let i = 0; i < N / 4; i++) mix.push(fakeReq({ host: "other.test" }, `/any/${i}`));
  const linear = routes.map((r) => ({ host: r.match.host, prefix: r.match.pathPrefix }));
  const hostMatches = (pattern: string, host: string): boolean =>
    pattern === "*" || pattern === host || (pattern.startsWith("*.") && host.endsWith(pattern.slice(1)));
  const scan = add(
    "route match",
    "linear scan of (host, prefix)",
    time(mix.length, () => {
      let acc = 0;
      for (let i = 0; i < mix.length; i++) {
        const host = (mix[i].headers.host as string).toLowerCase();
        const url = mix[i].url as string;
        for (let j = 0; j < linear.length; j++) {
          if (hostMatches(linear[j].host, host) && url.startsWith(linear[j].prefix)) {
            acc += j;
            break;
          }
        }
      }
      return acc;
    }),
  );
  add(
    "route match",
    "shardgate route table",
    time(mix.length, () => {
      let acc = 0;
      for (let i = 0; i < mix.length; i++) {
        const r = table.match(mix[i].headers.host, mix[i].url as string);
        acc += r === null ? 0 : r.label.length;
      }
      return acc;
    }),
    scan,
  );

  // Member choice from a key hash.
  const hashes = Int32Array.from(keys, (k) => hashKey(k) | 0);
  const live = new LiveBook().for(snapshot);
  const lookup = add(
    "member choice",
    "raw ring lookup (floor)",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += snapshot.table.lookup(hashes[i] >>> 0);
      return acc;
    }),
  );
  add(
    "member choice",
    "shardgate chooseMember",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += chooseMember(snapshot, hashes[i] >>> 0, live, 0);
      return acc;
    }),
    lookup,
  );
  const ring = new HashRing(members.map((m) => m.address));
  const hr = add(
    "key -> member",
    "hashring npm get(key)",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += (ring.get(keys[i]) ?? "").length;
      return acc;
    }),
  );
  add(
    "key -> member",
    "shardgate hash + chooseMember",
    time(N, () => {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += chooseMember(snapshot, hashKey(keys[i]), live, 0);
      return acc;
    }),
    hr,
  );

  if (json) {
    console.log(JSON.stringify({ n: N, repeats: REPEATS, rows, sink: checksum() }));
    return 0;
  }
  console.log(`proxy micro-benchmarks: ${N} seeded inputs (seed ${SEED}), median of ${REPEATS} passes`);
  console.log("  bench             implementation                         ns/call   vs peer");
  for (const r of rows) {
    const vs = r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x of "${r.vs}"`;
    console.log(`  ${r.bench.padEnd(17)} ${r.impl.padEnd(38)} ${r.nsPerCall.toFixed(0).padStart(7)}   ${vs}`);
  }
  if (checksum() === 0.5) console.log(""); // keeps the checksums observable
  return 0;
}

runIfMain(import.meta.url, run);
