// The smuggling differential of smuggling-differential.test.ts for HTTP/2 requests forwarded
// to an HTTP/1.1 upstream (the h2-to-h1 downgrade): raw frames on an h2c connection, so the
// client can send what no HTTP/2 library would: a content-length that disagrees with the DATA,
// a transfer-encoding field, CR/LF inside a field value or :path, an upper-case field name.
// Each body carries `GET /SMUGGLED-i`. The recording upstream must see exactly the requests
// whose answers shardgate relayed on the stream (its `up=<n>` in the DATA), never SMUGGLED,
// one Host, no #fragment in the target (the old code forwarded `/A#frag`), and the body the
// client framed when the framing was valid. Loopback only.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { frame, literal } from "../support/h2-frames.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RecordingUpstream, startRecordingUpstream } from "../support/recording-upstream.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const SEED = testSeed(11_206_012);
const EXTRA = 12;
const DEADLINE_MS = 15_000;

let upstream: RecordingUpstream;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstream = await startRecordingUpstream();
  sg = await startShardgate(poolConfig({ members: [{ id: "r1", port: upstream.port }], accessLog: false }));
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await upstream?.close();
});

interface H2Shape {
  name: string;
  /** Extra fields after :method/:path/:scheme/:authority/x-user-id, and the body's DATA; intended as in the HTTP/1.1 file. */
  build(
    i: number,
    body: string,
  ): { path: string; fields: Array<[string, string]>; data: string; intended: string | null };
}

const len = (b: string): string => String(Buffer.byteLength(b, "latin1"));

const SHAPES: H2Shape[] = [
  {
    name: "content-length matching",
    build: (i, b) => ({ path: `/A-${i}`, fields: [["content-length", len(b)]], data: b, intended: b }),
  },
  { name: "no content-length", build: (i, b) => ({ path: `/A-${i}`, fields: [], data: b, intended: b }) },
  {
    name: "content-length 0, body sent",
    build: (i, b) => ({ path: `/A-${i}`, fields: [["content-length", "0"]], data: b, intended: null }),
  },
  {
    name: "content-length short",
    build: (i, b) => ({ path: `/A-${i}`, fields: [["content-length", "5"]], data: b, intended: null }),
  },
  {
    name: "content-length long",
    build: (i, b) => ({ path: `/A-${i}`, fields: [["content-length", "90"]], data: b, intended: null }),
  },
  {
    name: "two content-lengths",
    build: (i, b) => ({
      path: `/A-${i}`,
      fields: [
        ["content-length", len(b)],
        ["content-length", "0"],
      ],
      data: b,
      intended: null,
    }),
  },
  {
    name: "transfer-encoding chunked",
    build: (i, b) => ({
      path: `/A-${i}`,
      fields: [["transfer-encoding", "chunked"]],
      data: `0\r\n\r\n${b}`,
      intended: null,
    }),
  },
  {
    name: "CRLF in a value",
    build: (i, b) => ({
      path: `/A-${i}`,
      fields: [["x-a", "b\r\ntransfer-encoding: chunked"]],
      data: `0\r\n\r\n${b}`,
      intended: null,
    }),
  },
  {
    name: "LF in a value",
    build: (i, b) => ({
      path: `/A-${i}`,
      fields: [["x-a", `b\ncontent-length: 0`]],
      data: b,
      intended: null,
    }),
  },
  {
    name: "CRLF in :path",
    build: (i, b) => ({ path: `/A-${i} HTTP/1.1\r\nx-b: c`, fields: [], data: b, intended: null }),
  },
  {
    name: "upper-case name",
    build: (i, b) => ({ path: `/A-${i}`, fields: [["Content-Length", "0"]], data: b, intended: null }),
  },
  { name: "space in :path", build: (i, b) => ({ path: `/A-${i} x`, fields: [], data: b, intended: null }) },
  {
    name: "fragment in :path",
    build: (i, b) => ({
      path: `/A-${i}#frag`,
      fields: [["content-length", len(b)]],
      data: b,
      intended: null,
    }),
  },
  {
    name: "host beside :authority",
    build: (i, b) => ({
      path: `/A-${i}`,
      fields: [
        ["host", "a.example"],
        ["content-length", len(b)],
      ],
      data: b,
      intended: b,
    }),
  },
];

function bodyFor(i: number, random: () => number): string {
  const pad = "abcdefghij".slice(0, Math.floor(random() * 10));
  return `${pad}GET /SMUGGLED-${i} HTTP/1.1\r\nHost: a.example\r\nx-user-id: k\r\n\r\n`;
}

/** Frames of one request on stream 1 of a fresh h2c connection. */
function requestBytes(path: string, fields: Array<[string, string]>, data: string): Buffer {
  const block = Buffer.concat([
    literal(":method", "POST"),
    literal(":scheme", "http"),
    literal(":authority", "a.example"),
    literal(":path", path),
    literal("x-user-id", "k"),
    ...fields.map(([n, v]) => literal(n, v)),
  ]);
  return Buffer.concat([
    Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    frame(4, 0, 0),
    frame(1, 0x4, 1, block),
    frame(0, 0x1, 1, Buffer.from(data, "latin1")),
  ]);
}

/** Sends `bytes`; resolves with the DATA of stream 1, once stream 1 ended, was reset, or the connection went away. */
function exchange(bytes: Buffer): Promise<{ data: string; how: string }> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    let data = "";
    let done = false;
    const finish = (how: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data, how });
    };
    const timer = setTimeout(() => finish("deadline"), scaled(DEADLINE_MS));
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const n = buf.readUIntBE(0, 3);
        if (buf.length < 9 + n) break;
        const type = buf[3];
        const flags = buf[4];
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + n);
        buf = buf.subarray(9 + n);
        if (type === 4 && (flags & 1) === 0) s.write(frame(4, 1, 0));
        if (stream === 1 && type === 0) data += payload.toString("latin1");
        if (stream === 1 && (type === 0 || type === 1) && (flags & 1) === 1) finish("end");
        if (stream === 1 && type === 3) finish(`RST_STREAM ${payload.readUInt32BE(0)}`);
        if (type === 7) finish(`GOAWAY ${payload.readUInt32BE(4)}`);
      }
    });
    s.on("error", () => {});
    s.on("close", () => finish("closed"));
    s.write(bytes);
  });
}

test("h2-to-h1 smuggling differential: the upstream sees exactly the requests shardgate answered from it", {
  timeout: 300_000,
}, async () => {
  const random = seededRandom(SEED);
  const plan = [...SHAPES];
  for (let k = 0; k < EXTRA; k++) plan.push(pick(random, SHAPES));
  const results: Array<{
    i: number;
    shape: string;
    intended: string | null;
    data: string;
    how: string;
    path: string;
  }> = [];
  for (let i = 0; i < plan.length; i++) {
    const { path, fields, data, intended } = plan[i].build(i, bodyFor(i, random));
    const r = await exchange(requestBytes(path, fields, data));
    results.push({ i, shape: plan[i].name, intended, path, ...r });
  }
  await stopAll();
  await eventually(
    "the upstream's connections closed",
    () => (upstream.open() === 0 ? true : undefined),
    20_000,
  );

  const problems: string[] = [];
  for (const e of results) {
    const seen = upstream.requests.filter((r) => new RegExp(`-${e.i}(?:\\D|$)`).test(r.target));
    const answered = [...e.data.matchAll(/up=(\d+)/g)].map((m) => Number(m[1]));
    const where = `#${e.i} ${e.shape} (${e.how}, answer ${JSON.stringify(e.data.slice(0, 200))})`;
    if (JSON.stringify(seen.map((r) => r.id)) !== JSON.stringify(answered))
      problems.push(
        `${where}: upstream saw ${JSON.stringify(seen.map((r) => r.raw.toString("latin1").slice(0, 300)))}, shardgate relayed ${answered}`,
      );
    for (const r of seen) {
      if (r.target.includes("SMUGGLED") || r.raw.toString("latin1").split("\r\n\r\n")[0].includes("SMUGGLED"))
        problems.push(
          `${where}: SMUGGLED reached the upstream's head: ${JSON.stringify(r.raw.toString("latin1"))}`,
        );
      if (r.target.includes("#"))
        problems.push(`${where}: a fragment reached the upstream's target ${JSON.stringify(r.target)}`);
      const hosts = r.headers.filter(([n]) => n.toLowerCase() === "host").map(([, v]) => v);
      if (hosts.length !== 1 || hosts[0] !== "a.example")
        problems.push(`${where}: upstream Host ${JSON.stringify(hosts)}`);
      if (e.intended !== null && r.body.toString("latin1") !== e.intended)
        problems.push(
          `${where}: upstream body ${JSON.stringify(r.body.toString("latin1"))}, framed ${JSON.stringify(e.intended)}`,
        );
    }
  }
  for (const f of upstream.framingErrors)
    problems.push(
      `upstream could not frame what shardgate sent (${f.reason}): ${JSON.stringify(f.bytes.slice(0, 400))}`,
    );
  assert.deepEqual(problems, [], `${problems.length} problem(s), ${seedNote(SEED)}\n${problems.join("\n")}`);
  const forwarded = new Set(results.filter((e) => e.data.includes("up=")).map((e) => e.shape));
  process.stderr.write(`# forwarded: ${[...forwarded].join(" | ")}\n`);
  for (const s of SHAPES.filter((_, k) => results[k].intended !== null))
    assert.ok(forwarded.has(s.name), `valid ${s.name} was forwarded, ${seedNote(SEED)}`);
  assert.ok(forwarded.size < SHAPES.length, `some shapes are refused, ${seedNote(SEED)}`);
});
