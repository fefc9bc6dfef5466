// A request-smuggling differential, tried from the outside: crafted HTTP/1.1 framing goes
// through a real shardgate process to a raw upstream that keeps the exact bytes it receives
// and frames them with its own strict parser (test/support/recording-upstream.ts). Whatever
// shardgate does with a shape (refuse it, forward it re-framed), the upstream must have seen
// exactly the requests whose answers shardgate relayed: never a second request hidden in a
// body (each body carries `GET /SMUGGLED-i`), never a body other than the one the client
// framed, never framing the upstream cannot read one way only (two lengths, CL with TE, a
// framing trailer). request-framing.test.ts and hostile-heads.test.ts check shardgate's own
// answers to the best-known shapes; this one checks what reached the upstream, over the rest
// (chunk-size overflow and leading zeros, quoted chunk extensions, framing trailers,
// `Content-Length: +5`, whitespace and case in Transfer-Encoding, NUL and bare CR, absolute-form,
// pipelined pairs, HTTP/1.0 keep-alive). A seeded generator draws bodies and chunkings; the
// count is bounded. Loopback only.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";
import { rawSession } from "../support/raw-socket.js";
import { type RecordingUpstream, startRecordingUpstream } from "../support/recording-upstream.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(11_206_011);
/** Exchanges beyond one per shape: bounded, each drawing a shape, a body and a chunking. */
const EXTRA = 24;
/** Bounds one exchange; the listener's timeouts (2 s headers, 3 s request) end stalled ones first. */
const DEADLINE_MS = 15_000;

let upstream: RecordingUpstream;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstream = await startRecordingUpstream();
  const yaml = poolConfig({ members: [{ id: "r1", port: upstream.port }], accessLog: false });
  sg = await startShardgate(
    yaml.replace(
      "listen:\n",
      "listen:\n  timeouts: { headers: 2s, request: 3s, keepAlive: 30s, idle: 30s }\n",
    ),
  );
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await upstream?.close();
});

const HOST = "Host: a.example\r\nx-user-id: k\r\n";

interface Shape {
  name: string;
  /**
   * The request `/A-i` carrying `body`, as bytes. `intended`: the body the client framed when
   * the framing is valid HTTP/1.1 (the upstream, if it gets the request, must get exactly
   * that); null when the framing is ambiguous or invalid (refusing it is the only safe answer).
   */
  build(i: number, body: string, chunk: (b: string) => string): { bytes: string; intended: string | null };
}

const post = (i: number, framing: string, rest: string): string =>
  `POST /A-${i} HTTP/1.1\r\n${HOST}${framing}\r\n${rest}`;
const cl = (b: string): string => `Content-Length: ${Buffer.byteLength(b, "latin1")}\r\n`;
const hex = (b: string): string => Buffer.byteLength(b, "latin1").toString(16);

const SHAPES: Shape[] = [
  { name: "Content-Length", build: (i, b) => ({ bytes: post(i, cl(b), b), intended: b }) },
  {
    name: "Content-Length leading zeros",
    build: (i, b) => ({ bytes: post(i, `Content-Length: 000${b.length}\r\n`, b), intended: b }),
  },
  {
    name: "Content-Length: +n",
    build: (i, b) => ({ bytes: post(i, `Content-Length: +${b.length}\r\n`, b), intended: null }),
  },
  {
    name: "Content-Length: -1",
    build: (i, b) => ({ bytes: post(i, "Content-Length: -1\r\n", b), intended: null }),
  },
  {
    name: "Content-Length hex",
    build: (i, b) => ({ bytes: post(i, `Content-Length: 0x${hex(b)}\r\n`, b), intended: null }),
  },
  {
    name: "Content-Length list n, n",
    build: (i, b) => ({ bytes: post(i, `Content-Length: ${b.length}, ${b.length}\r\n`, b), intended: null }),
  },
  {
    name: "duplicate Content-Length, same",
    build: (i, b) => ({ bytes: post(i, cl(b) + cl(b), b), intended: null }),
  },
  {
    name: "duplicate Content-Length, 0 first",
    build: (i, b) => ({ bytes: post(i, `Content-Length: 0\r\n${cl(b)}`, b), intended: null }),
  },
  {
    name: "Content-Length space before colon",
    build: (i, b) => ({ bytes: post(i, `Content-Length : ${b.length}\r\n`, b), intended: null }),
  },
  {
    name: "CL + TE chunked",
    build: (i, b, ch) => ({
      bytes: post(i, `${cl(b)}Transfer-Encoding: chunked\r\n`, ch(b)),
      intended: null,
    }),
  },
  {
    name: "TE chunked + CL 0",
    build: (i, b, ch) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", ch(b)),
      intended: null,
    }),
  },
  {
    name: "TE chunked",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding: chunked\r\n", ch(b)), intended: b }),
  },
  {
    name: "TE '   chunked' (OWS)",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding:    chunked  \r\n", ch(b)), intended: b }),
  },
  {
    name: "TE tab chunked",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding:\tchunked\r\n", ch(b)), intended: b }),
  },
  {
    name: "TE Chunked (case)",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding: ChUnKeD\r\n", ch(b)), intended: b }),
  },
  {
    name: "TE chunked, identity",
    build: (i, b, ch) => ({
      bytes: post(i, "Transfer-Encoding: chunked, identity\r\n", ch(b)),
      intended: null,
    }),
  },
  {
    name: "TE identity, chunked",
    build: (i, b, ch) => ({
      bytes: post(i, "Transfer-Encoding: identity, chunked\r\n", ch(b)),
      intended: null,
    }),
  },
  {
    name: "TE xchunked",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding: xchunked\r\n", ch(b)), intended: null }),
  },
  {
    name: "TE chunked on two lines",
    build: (i, b, ch) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", ch(b)),
      intended: null,
    }),
  },
  {
    name: "TE obs-fold",
    build: (i, b, ch) => ({
      bytes: post(i, "Transfer-Encoding: identity\r\n chunked\r\n", ch(b)),
      intended: null,
    }),
  },
  {
    name: "TE vertical tab",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding:\x0bchunked\r\n", ch(b)), intended: null }),
  },
  {
    name: "TE with bare LF",
    build: (i, b, ch) => ({ bytes: post(i, "Transfer-Encoding: chunked\n", ch(b)), intended: null }),
  },
  {
    name: "bare CR in a value",
    build: (i, b) => ({
      bytes: post(i, `x-a: b\rTransfer-Encoding: chunked\r\n${cl(b)}`, b),
      intended: null,
    }),
  },
  {
    name: "NUL in a value",
    build: (i, b) => ({ bytes: post(i, `x-a: b\0c\r\n${cl(b)}`, b), intended: null }),
  },
  {
    name: "NUL in the target",
    build: (i, b) => ({ bytes: `POST /A-${i}\0x HTTP/1.1\r\n${HOST}${cl(b)}\r\n${b}`, intended: null }),
  },
  {
    name: "chunk size overflow",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `ffffffffffffffff${hex(b)}\r\n${b}\r\n0\r\n\r\n`),
      intended: null,
    }),
  },
  {
    name: "chunk size leading zeros",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `0000${hex(b)}\r\n${b}\r\n0\r\n\r\n`),
      intended: b,
    }),
  },
  {
    name: "chunk size then a space",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `${hex(b)} \r\n${b}\r\n0\r\n\r\n`),
      intended: null,
    }),
  },
  {
    name: "chunk extension, quoted",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `${hex(b)};a="b;c d"\r\n${b}\r\n0\r\n\r\n`),
      intended: b,
    }),
  },
  {
    name: "chunk extension, quoted CRLF",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `${hex(b)};a="x\r\n0\r\n\r\n"\r\n${b}\r\n0\r\n\r\n`),
      intended: null,
    }),
  },
  {
    name: "chunk extension, token",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `${hex(b)};ext=1\r\n${b}\r\n0\r\n\r\n`),
      intended: b,
    }),
  },
  {
    name: "chunk data without its CRLF",
    build: (i, b) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `${hex(b)}\r\n${b}XX0\r\n\r\n`),
      intended: null,
    }),
  },
  {
    name: "trailer Content-Length",
    build: (i, b, ch) => ({
      bytes: post(i, "Transfer-Encoding: chunked\r\n", `${ch(b).slice(0, -2)}Content-Length: 60\r\n\r\n`),
      intended: null, // refused by the parser (400); forwarding it with the trailer dropped would be safe too
    }),
  },
  {
    name: "trailer Transfer-Encoding",
    build: (i, b, ch) => ({
      bytes: post(
        i,
        "Transfer-Encoding: chunked\r\n",
        `${ch(b).slice(0, -2)}Transfer-Encoding: chunked\r\n\r\n`,
      ),
      intended: null, // refused by the parser (400); forwarding it with the trailer dropped would be safe too
    }),
  },
  {
    name: "fragment in the target",
    build: (i, b) => ({ bytes: `POST /A-${i}#frag HTTP/1.1\r\n${HOST}${cl(b)}\r\n${b}`, intended: null }),
  },
  {
    // Accepted (RFC 9112 section 3.2.2): forwarded as `/A-i` with the authority as Host.
    name: "absolute-form, another Host",
    build: (i, b) => ({
      bytes: `POST http://evil.example/A-${i} HTTP/1.1\r\n${HOST}${cl(b)}\r\n${b}`,
      intended: b,
    }),
  },
  {
    name: "HTTP/1.0 keep-alive with Content-Length",
    build: (i, b) => ({
      bytes: `POST /A-${i} HTTP/1.0\r\n${HOST}Connection: keep-alive\r\n${cl(b)}\r\n${b}`,
      intended: b,
    }),
  },
  {
    name: "GET with a Content-Length body",
    build: (i, b) => ({ bytes: `GET /A-${i} HTTP/1.1\r\n${HOST}${cl(b)}\r\n${b}`, intended: b }),
  },
  {
    name: "pipelined pair, no body",
    build: (i) => ({ bytes: `GET /A-${i} HTTP/1.1\r\n${HOST}\r\n`, intended: "" }),
  },
];

interface Exchange {
  i: number;
  shape: string;
  intended: string | null;
  bytes: string;
  reply: string;
}

/** `body` as 1 to 3 chunks (sizes drawn), then the last chunk and an empty trailer section. */
function chunker(random: () => number): (b: string) => string {
  return (b) => {
    const parts: string[] = [];
    let rest = b;
    const n = 1 + Math.floor(random() * 3);
    for (let k = 1; k < n && rest.length > 1; k++) {
      const cut = 1 + Math.floor(random() * (rest.length - 1));
      parts.push(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    parts.push(rest);
    return `${parts.map((p) => `${hex(p)}\r\n${p}\r\n`).join("")}0\r\n\r\n`;
  };
}

function bodyFor(i: number, random: () => number): string {
  const pad = (): string => "abcdefghij".slice(0, Math.floor(random() * 10));
  return `${pad()}GET /SMUGGLED-${i} HTTP/1.1\r\n${HOST}\r\n${pad()}`;
}

/** The request index a target belongs to (`/A-3`, `/SMUGGLED-3`, `http://x/A-3` -> 3), or -1. */
function indexOf(target: string): number {
  const m = /-(\d+)(?:[?#\0]|x|$)/.exec(target);
  return m === null ? -1 : Number(m[1]);
}

test("smuggling differential: the upstream sees exactly the requests shardgate answered from it, with the bodies the client framed", {
  timeout: 600_000,
}, async () => {
  const random = seededRandom(SEED);
  const plan: Shape[] = [...SHAPES];
  for (let k = 0; k < EXTRA; k++) plan.push(pick(random, SHAPES));
  const exchanges: Exchange[] = [];
  for (let i = 0; i < plan.length; i++) {
    const shape = plan[i];
    const { bytes, intended } = shape.build(i, bodyFor(i, random), chunker(random));
    // A good request behind, closing: whatever shardgate makes of the first, it ends the exchange.
    const next = `GET /B-${i} HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`;
    const { reply } = await rawSession(port, DEADLINE_MS, (s) =>
      s.write(Buffer.from(bytes + next, "latin1")),
    );
    exchanges.push({ i, shape: shape.name, intended, bytes, reply });
  }
  // Shardgate stopped: every upstream connection it held is closed, so a request hidden behind
  // another and still buffered, or a tail, has reached the upstream's record by now.
  await stopAll();
  await waitClosed(upstream);

  const problems: string[] = [];
  const seenBy = new Map<number, typeof upstream.requests>();
  for (const r of upstream.requests) {
    const i = indexOf(r.target);
    if (i < 0) {
      problems.push(
        `upstream got an unattributable request ${JSON.stringify(r.raw.toString("latin1").slice(0, 200))}`,
      );
      continue;
    }
    seenBy.set(i, [...(seenBy.get(i) ?? []), r]);
  }
  for (const e of exchanges) {
    const seen = seenBy.get(e.i) ?? [];
    const where = `#${e.i} ${e.shape}: sent ${JSON.stringify(e.bytes)}`;
    const answeredIds = [...e.reply.matchAll(/\r\nx-up-id: (\d+)\r\n/gi)]
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const seenIds = seen.map((r) => r.id).sort((a, b) => a - b);
    if (JSON.stringify(answeredIds) !== JSON.stringify(seenIds))
      problems.push(
        `${where}\n  upstream saw ${JSON.stringify(seen.map((r) => r.target))} (ids ${seenIds}), shardgate relayed ids ${answeredIds}; reply ${JSON.stringify(e.reply.slice(0, 600))}`,
      );
    for (const r of seen) {
      if (r.target.includes("SMUGGLED"))
        problems.push(
          `${where}\n  a request hidden in the body reached the upstream: ${JSON.stringify(r.raw.toString("latin1"))}`,
        );
      if (r.target.includes("#"))
        problems.push(`${where}\n  a fragment reached the upstream's target ${JSON.stringify(r.target)}`);
      const hosts = r.headers.filter(([n]) => n.toLowerCase() === "host").map(([, v]) => v);
      // An absolute-form target's authority is its Host (RFC 9112 section 7.2); the /B- request behind keeps a.example.
      const absolute = r.target.startsWith("/A-") ? /^[A-Z]+ http:\/\/([^/]+)\//.exec(e.bytes) : null;
      const host = absolute?.[1] ?? "a.example";
      if (hosts.length !== 1 || hosts[0] !== host)
        problems.push(`${where}\n  upstream Host ${JSON.stringify(hosts)}`);
      if (r.target === `/A-${e.i}` && e.intended !== null && r.body.toString("latin1") !== e.intended)
        problems.push(
          `${where}\n  upstream body ${JSON.stringify(r.body.toString("latin1"))}, the client framed ${JSON.stringify(e.intended)}`,
        );
    }
  }
  for (const f of upstream.framingErrors)
    problems.push(
      `upstream could not frame what shardgate sent (${f.reason}): ${JSON.stringify(f.bytes.slice(0, 400))}`,
    );
  assert.deepEqual(problems, [], `${problems.length} problem(s), ${seedNote(SEED)}\n${problems.join("\n")}`);
  // The run means something: valid shapes were forwarded, invalid ones refused. Which is which:
  const forwarded = new Set(
    exchanges
      .filter((e) => (seenBy.get(e.i) ?? []).some((r) => r.target === `/A-${e.i}`))
      .map((e) => e.shape),
  );
  const valid = new Set(SHAPES.filter((_, k) => exchanges[k].intended !== null).map((s) => s.name));
  process.stderr.write(`# forwarded: ${[...forwarded].join(" | ")}\n`);
  for (const name of valid)
    assert.ok(forwarded.has(name), `valid framing ${name} was forwarded, ${seedNote(SEED)}`);
  assert.ok(forwarded.size < SHAPES.length, `some shapes are refused, ${seedNote(SEED)}`);
});

async function waitClosed(u: RecordingUpstream): Promise<void> {
  const { eventually } = await import("../support/wait.js");
  await eventually("the upstream's connections closed", () => (u.open() === 0 ? true : undefined), 20_000);
}
