// One key, one member, however it is spelled or carried (README "Routing, keys and forwarding",
// Keys). A seeded set of keys goes through every carrier (node:http, raw HTTP/1.1 and HTTP/1.0
// bytes, h2c prior knowledge, h2 over TLS by ALPN, HTTP/1.1 over TLS, @grpc/grpc-js metadata,
// PROXY v1 and v2 headers, `workers: 2`) of three real shardgate processes sharing one config, in
// every spelling the README calls the same key: repeated header lines, cookie crumbs, quoted
// cookie values, percent-encoded query names and values, percent-encoded and dot-segment paths,
// client addresses with ports, brackets, upper case, uncompressed or v4-mapped IPv6 in
// X-Forwarded-For, Forwarded and PROXY headers. Every answer must come from the member that
// /admin/route names for the key's canonical text.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Client } from "@grpc/grpc-js";
import {
  grpcCall,
  grpcClient,
  h2Get,
  h2Session,
  type MemberServer,
  nodeHttp,
  proxyV1,
  proxyV2,
  rawH1,
  type Served,
  startNamingMember,
} from "../support/key-carriers.js";
import { namingPoolConfig } from "../support/naming-pool-config.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { servingPids } from "../support/workers.js";

const SEED = testSeed(9113);
const random = seededRandom(SEED);

/** A request in carrier-neutral form: header fields in order (a name may repeat). */
interface Ask {
  path: string;
  fields: [string, string][];
  /** Only raw HTTP/1.x bytes can carry it (leading/trailing whitespace: HTTP/2 forbids it). */
  rawOnly?: boolean;
}

interface Case {
  /** The key's canonical text, as /admin/route is asked. */
  key: string;
  spelling: string;
  ask: Ask;
  /** Carried only in a PROXY header (the `ip` key of the connection itself). */
  proxySource?: { v1: Buffer; v2?: Buffer };
}

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

function pick(n: number): number {
  return Math.floor(random() * n);
}

function tokenKey(): string {
  let k = UNRESERVED[pick(62)]; // a letter or digit first: never a dot segment
  for (let n = 5 + pick(8); n > 0; n--) k += UNRESERVED[pick(UNRESERVED.length)];
  return k;
}

/** Some characters of `k` as %XX, hex digits in a random case. */
function pctEncode(k: string): string {
  let out = "";
  for (const ch of k) {
    if (random() < 0.5) {
      out += ch;
      continue;
    }
    const hex = ch.charCodeAt(0).toString(16).padStart(2, "0");
    out += `%${random() < 0.5 ? hex.toUpperCase() : hex.toLowerCase()}`;
  }
  return out === k ? `%${k.charCodeAt(0).toString(16).toUpperCase()}${k.slice(1)}` : out;
}

function ipv4(): string {
  let a = 11 + pick(200);
  if (a === 127) a = 128;
  return `${a}.${pick(256)}.${pick(256)}.${1 + pick(254)}`;
}

/** An IPv6 address with one run of 2-3 zero groups: its canonical (RFC 5952) and 8-group texts. */
function ipv6(): { canonical: string; groups: number[] } {
  const groups = [0x2001, 0x0db8, 0, 0, 0, 0, 0, 0].map((g, i) => (i < 2 ? g : 1 + pick(0xfffe)));
  const runLength = 2 + pick(2);
  const at = 2 + pick(8 - 2 - runLength + 1);
  for (let i = at; i < at + runLength; i++) groups[i] = 0;
  const hex = groups.map((g) => g.toString(16));
  const canonical = `${hex.slice(0, at).join(":")}::${hex.slice(at + runLength).join(":")}`;
  return { canonical, groups };
}

function tokenCases(k: string): Case[] {
  const e = (): string => pctEncode(k);
  const c = (spelling: string, ask: Ask): Case => ({ key: k, spelling, ask });
  return [
    c("header", { path: "/h/x", fields: [["x-user-id", k]] }),
    c("header with OWS", { path: "/h/x", fields: [["X-User-Id", `  ${k}\t`]], rawOnly: true }),
    c("cookie", { path: "/c/x", fields: [["cookie", `uid=${k}`]] }),
    c("cookie among others", { path: "/c/x", fields: [["cookie", `a=1; uid=${k};b=2`]] }),
    c("quoted cookie", { path: "/c/x", fields: [["cookie", `uid="${k}"`]] }),
    c("cookie crumbs", {
      path: "/c/x",
      fields: [
        ["cookie", "a=1"],
        ["cookie", `uid=${k}`],
      ],
    }),
    c("query", { path: `/q/x?user=${k}`, fields: [] }),
    c("query value encoded", { path: `/q/x?user=${e()}`, fields: [] }),
    c("query repeated: first wins", { path: `/q/x?a=1&user=${k}&user=zz`, fields: [] }),
    c("query name encoded", { path: `/q/x?%75ser=${k}`, fields: [] }),
    c("query name and value encoded", { path: `/q/x?b=%2&us%65r=${e()}&user=zz`, fields: [] }),
    c("path", { path: `/p/${k}`, fields: [] }),
    c("path encoded", { path: `/p/${e()}`, fields: [] }),
    c("path dot segments", { path: `/h/../p/./${k}/tail?x=1`, fields: [] }),
  ];
}

function listCases(a: string, b: string): Case[] {
  const key = `${a}, ${b}`;
  return [
    { key, spelling: "header list, one line", ask: { path: "/h/x", fields: [["x-user-id", key]] } },
    {
      key,
      spelling: "header list, two lines",
      ask: {
        path: "/h/x",
        fields: [
          ["x-user-id", a],
          ["x-user-id", b],
        ],
      },
    },
  ];
}

/** The Host field as the key: host names are case-insensitive (":authority" on HTTP/2). */
function hostCases(k: string): Case[] {
  const key = `${k.toLowerCase()}.keys.test`;
  const mixed = [...key].map((ch) => (random() < 0.5 ? ch.toUpperCase() : ch)).join("");
  return [
    { key, spelling: "host", ask: { path: "/hh/x", fields: [["host", key]] } },
    { key, spelling: "host upper case", ask: { path: "/hh/x", fields: [["Host", key.toUpperCase()]] } },
    { key, spelling: "host mixed case", ask: { path: "/hh/x", fields: [["host", mixed]] } },
  ];
}

/** A key with a sub-delimiter ("!$'()*"), legal as written in a header, cookie, path or query. */
function subDelimCases(a: string, b: string): Case[] {
  const d = "!$'()*"[pick(6)];
  const key = `${a}${d}${b}`;
  const hex = d.charCodeAt(0).toString(16);
  const enc = `${a}%${hex.toUpperCase()}${b}`;
  const c = (spelling: string, ask: Ask): Case => ({ key, spelling, ask });
  return [
    c("header with a sub-delimiter", { path: "/h/x", fields: [["x-user-id", key]] }),
    c("cookie with a sub-delimiter", { path: "/c/x", fields: [["cookie", `uid=${key}`]] }),
    c("path, sub-delimiter as written", { path: `/p/${key}`, fields: [] }),
    c("path, sub-delimiter encoded", { path: `/p/${enc}`, fields: [] }),
    c("path, sub-delimiter encoded lower-case", { path: `/p/${a}%${hex}${b}`, fields: [] }),
    c("query, sub-delimiter encoded", { path: `/q/x?user=${enc}`, fields: [] }),
  ];
}

/** A key with a space: a header or cookie carries it as is, a query as "+" or "%20". */
function spacedCases(a: string, b: string): Case[] {
  const key = `${a} ${b}`;
  const c = (spelling: string, ask: Ask): Case => ({ key, spelling, ask });
  return [
    c("header with a space", { path: "/h/x", fields: [["x-user-id", key]] }),
    c("quoted cookie with a space", { path: "/c/x", fields: [["cookie", `uid="${key}"`]] }),
    c("query, space as +", { path: `/q/x?user=${a}+${b}`, fields: [] }),
    c("query, space as %20", { path: `/q/x?user=${a}%20${b}`, fields: [] }),
  ];
}

function v4Cases(v: string): Case[] {
  const c = (spelling: string, fields: [string, string][]): Case => ({
    key: v,
    spelling,
    ask: { path: "/i/x", fields },
  });
  const upperMapped = `::FFFF:${v}`;
  return [
    c("xff", [["x-forwarded-for", v]]),
    c("xff with port", [["x-forwarded-for", `${v}:4711`]]),
    c("xff v4-mapped", [["x-forwarded-for", `::ffff:${v}`]]),
    c("xff bracketed upper-case v4-mapped with port", [["x-forwarded-for", `[${upperMapped}]:80`]]),
    c("xff over two lines, trusted hop last", [
      ["x-forwarded-for", v],
      ["x-forwarded-for", "127.0.0.1"],
    ]),
    c("forwarded", [["forwarded", `for=${v}`]]),
    c("forwarded with port", [["forwarded", `for="${v}:4711";proto=http`]]),
    c("forwarded v4-mapped", [["forwarded", `for="[${upperMapped}]"`]]),
    {
      key: v,
      spelling: "PROXY TCP4",
      ask: { path: "/i/x", fields: [] },
      proxySource: { v1: proxyV1(v, "TCP4"), v2: proxyV2(v) },
    },
    {
      key: v,
      spelling: "PROXY TCP6 v4-mapped",
      ask: { path: "/i/x", fields: [] },
      proxySource: { v1: proxyV1(`::ffff:${v}`, "TCP6"), v2: proxyV2(mappedHex(v)) },
    },
  ];
}

/** "192.0.2.1" -> "::ffff:c000:201": the v4-mapped address as a PROXY v2 header carries it. */
function mappedHex(v: string): string {
  const [a, b, c, d] = v.split(".").map(Number);
  return `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

function v6Cases(a: { canonical: string; groups: number[] }): Case[] {
  const key = a.canonical;
  const c = (spelling: string, fields: [string, string][]): Case => ({
    key,
    spelling,
    ask: { path: "/i/x", fields },
  });
  const expanded = a.groups.map((g) => g.toString(16).padStart(4, "0").toUpperCase()).join(":");
  const uncompressed = a.groups.map((g) => g.toString(16)).join(":");
  return [
    c("xff", [["x-forwarded-for", key]]),
    c("xff upper case", [["x-forwarded-for", key.toUpperCase()]]),
    c("xff uncompressed", [["x-forwarded-for", uncompressed]]),
    c("xff bracketed with port", [["x-forwarded-for", `[${expanded}]:443`]]),
    c("forwarded", [["forwarded", `for="[${key}]"`]]),
    c("forwarded expanded with port", [["forwarded", `for="[${expanded}]:443";proto=https`]]),
    {
      key,
      spelling: "PROXY TCP6",
      ask: { path: "/i/x", fields: [] },
      proxySource: { v1: proxyV1(expanded, "TCP6"), v2: proxyV2(uncompressed) },
    },
  ];
}

function yaml(members: readonly MemberServer[], listen: string): string {
  const route = (prefix: string, key: string, extra = ""): string =>
    `{ match: { pathPrefix: ${prefix} }, pool: users, key: [${key}], onMissingKey: reject${extra} }`;
  const routes = [
    route("/h/", "header:x-user-id"),
    route("/hh/", "header:host"),
    route("/c/", "cookie:uid"),
    route("/q/", "query:user"),
    route("/p/", "path:2"),
    route("/i/", "ip", ', trustedProxies: ["127.0.0.0/8", "::1/128"]'),
  ];
  return namingPoolConfig(members, routes, { listen, accessLog: true });
}

function portOf(sg: RunningShardgate): number {
  return Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
}

function grouped(fields: [string, string][]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, v] of fields) {
    const name = n.toLowerCase();
    out[name] = [...(out[name] ?? []), v];
  }
  return out;
}

describe(`one key, one member, on every carrier and spelling (${seedNote(SEED)})`, {
  timeout: 600_000,
}, () => {
  const members: MemberServer[] = [];
  let plain: RunningShardgate; // h1, h2c, gRPC; listening v4-mapped, so peers are "::ffff:127.0.0.1"
  let tls: RunningShardgate; // h1 and h2 over TLS, workers: 2
  let proxied: RunningShardgate; // PROXY protocol v1/v2
  let ca: Buffer;
  let grpc: Client;
  const dir = mkdtempSync(join(tmpdir(), "sg-keyspell-"));

  before(async () => {
    for (let i = 0; i < 5; i++) members.push(await startNamingMember(`m${i}`));
    makeCa(dir);
    issueCert(dir, "leaf", "127.0.0.1", "IP:127.0.0.1");
    ca = readFileSync(join(dir, "ca.pem"));
    [plain, tls, proxied] = await Promise.all([
      startShardgate(yaml(members, `  http: "[::ffff:127.0.0.1]:0"\n`)),
      startShardgate(
        yaml(
          members,
          `  http: 127.0.0.1:0\n  tls: { cert: ${join(dir, "leaf.pem")}, key: ${join(dir, "leaf.key")} }\n`,
        ),
        { args: ["--workers", "2"] },
      ),
      startShardgate(yaml(members, `  http: 127.0.0.1:0\n  proxyProtocol: { trusted: ["127.0.0.1/32"] }\n`)),
    ]);
    grpc = grpcClient(portOf(plain));
  });
  after(async () => {
    grpc?.close();
    await stopAll();
    await Promise.all(members.map((m) => m.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function ownerOf(key: string): Promise<string> {
    const owners = new Set<string>();
    for (const sg of [plain, tls, proxied]) {
      const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(key)}`);
      assert.equal(
        r.status,
        200,
        `/admin/route for ${JSON.stringify(key)}: ${r.status} ${JSON.stringify(r.body)}`,
      );
      owners.add(String((r.body as { member: unknown }).member));
    }
    assert.equal(
      owners.size,
      1,
      `the three instances name different owners for ${JSON.stringify(key)}: ${[...owners]}`,
    );
    return [...owners][0];
  }

  /** Every carrier of one case: [carrier name, the answer]. */
  async function carry(c: Case): Promise<[string, Served][]> {
    const out: [string, Served][] = [];
    const a = c.ask;
    const lines = a.fields.map(([n, v]) => `${n}: ${v}`);
    if (c.proxySource !== undefined) {
      const pp = portOf(proxied);
      out.push(["PROXY v1", await rawH1(pp, a.path, lines, { preface: c.proxySource.v1 })]);
      if (c.proxySource.v2 !== undefined)
        out.push(["PROXY v2", await rawH1(pp, a.path, lines, { preface: c.proxySource.v2 })]);
      const behind = h2Session(pp, undefined, c.proxySource.v1);
      try {
        out.push(["h2c behind PROXY v1", await h2Get(behind, a.path, {})]);
      } finally {
        behind.close();
      }
      return out;
    }
    const p = portOf(plain);
    const t = portOf(tls);
    out.push(["HTTP/1.1 raw", await rawH1(p, a.path, lines)]);
    out.push(["HTTP/1.0 raw", await rawH1(p, a.path, lines, { version: "1.0" })]);
    out.push(["HTTP/1.1 TLS (workers: 2)", await rawH1(t, a.path, lines, { tlsCa: ca })]);
    // Behind a PROXY header the connection's client is the header's, so only non-ip keys.
    if (!a.path.startsWith("/i/"))
      out.push([
        "HTTP/1.1 behind PROXY v2",
        await rawH1(portOf(proxied), a.path, lines, { preface: proxyV2("198.51.100.7") }),
      ]);
    if (a.rawOnly === true) return out;
    const g = grouped(a.fields);
    // On HTTP/2 the host travels as ":authority" (RFC 9113 8.3.1).
    const h2 = g.host === undefined ? g : { ...g, host: undefined, ":authority": g.host[0] };
    out.push(["node:http", await nodeHttp(p, a.path, g)]);
    const h2c = h2Session(p);
    const h2tls = h2Session(t, ca);
    try {
      out.push(["h2c prior knowledge", await h2Get(h2c, a.path, h2)]);
      out.push(["h2 TLS ALPN (workers: 2)", await h2Get(h2tls, a.path, h2)]);
    } finally {
      h2c.close();
      h2tls.close();
    }
    // grpc-js writes ":authority" from its target; the query is no part of a gRPC method path.
    if (!a.path.includes("?") && g.host === undefined)
      out.push(["gRPC metadata", await grpcCall(grpc, a.path, g)]);
    return out;
  }

  it("routes every spelling of a key, on every carrier, to the member /admin/route names", async () => {
    const cases: Case[] = [];
    for (let i = 0; i < 3; i++) cases.push(...tokenCases(tokenKey()));
    cases.push(...listCases(tokenKey(), tokenKey()));
    cases.push(...spacedCases(tokenKey(), tokenKey()));
    cases.push(...hostCases(tokenKey()));
    for (let i = 0; i < 2; i++) cases.push(...subDelimCases(tokenKey(), tokenKey()));
    for (let i = 0; i < 2; i++) cases.push(...v4Cases(ipv4()));
    for (let i = 0; i < 2; i++) cases.push(...v6Cases(ipv6()));
    // The peer itself as the key: a v4-mapped peer on one listener, a plain one on another.
    cases.push({
      key: "127.0.0.1",
      spelling: "the peer, no forwarding header",
      ask: { path: "/i/x", fields: [] },
    });

    const wrong: string[] = [];
    let checked = 0;
    for (const c of cases) {
      const want = await ownerOf(c.key);
      for (const [carrier, got] of await carry(c)) {
        checked++;
        if (got.status !== 200 || got.member !== want)
          wrong.push(
            `${JSON.stringify(c.key)} ${c.spelling} ${JSON.stringify(c.ask)} via ${carrier}: ${got.status} from ${got.member || "-"}, owner ${want}`,
          );
      }
    }
    assert.ok(checked > 300, `only ${checked} answers were compared`);
    // "Through workers" only means something if both workers served some of them. Which worker
    // takes a connection is the kernel's choice: go on with the same keys (same check) until both
    // have served, a bounded number of times.
    const tokens = cases.filter((c) => c.spelling === "header");
    for (let i = 0; servingPids(tls.proc.lines).size < 2 && i < 300; i++) {
      const c = tokens[i % tokens.length];
      const got = await rawH1(portOf(tls), c.ask.path, [`x-user-id: ${c.key}`], { tlsCa: ca });
      const want = await ownerOf(c.key);
      if (got.status !== 200 || got.member !== want)
        wrong.push(
          `${JSON.stringify(c.key)} header via HTTP/1.1 TLS (workers: 2), extra: ${got.status} from ${got.member || "-"}, owner ${want}`,
        );
    }
    assert.equal(servingPids(tls.proc.lines).size, 2, "both workers of the TLS instance served");
    assert.deepEqual(
      wrong,
      [],
      `${wrong.length} of ${checked} answers strayed (${seedNote(SEED)}):\n${wrong.join("\n")}`,
    );
  });
});
