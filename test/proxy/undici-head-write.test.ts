// The undici engine's response head written from the response's own header table
// (proxy/forward/undici-head-write.ts), where Node does not validate each line again:
// - the bytes are those Node's validating writeHead(status, list) makes, over seeded random
//   head lists (names known and not, values with tab, spaces and 0x80-0xff bytes, repeats);
// - a list Node would refuse still goes through Node's checks when it is not marked checked;
// - end to end, through the listener and the data plane, an upstream's head reaches the client
//   byte for byte (shardgate's lines added), and it was written from the table.

import assert from "node:assert/strict";
import { ServerResponse } from "node:http";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import { createDataPlane } from "../../proxy/forward/data-plane.js";
import { headsFromTable, isPlainFieldValue, writeUndiciHead } from "../../proxy/forward/undici-head-write.js";
import { buildRoutingState, createRoutingStateHolder } from "../../proxy/routing/routing-state.js";
import { missingInternals } from "../../proxy/server/node-internals.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { rawReply } from "../support/raw-socket.js";

const SEED = testSeed(51_015);
const DEADLINE_MS = 10_000;

/** A response as Node's server makes one (no socket: writeHead only builds the head). */
function response(): ServerResponse {
  return new ServerResponse({
    method: "GET",
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers: {},
  } as never);
}

const NAMES = [
  "server",
  "date",
  "content-type",
  "etag",
  "vary",
  "set-cookie",
  "x-custom-thing",
  "x-a",
  "link",
];

/** A value of the characters undici's parser lets through: tab, space, visible ASCII, 0x80-0xff. */
function value(random: () => number): string {
  const n = 1 + Math.floor(random() * 24);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = random();
    const c =
      r < 0.05
        ? 0x09
        : r < 0.1
          ? 0x20
          : r < 0.85
            ? 0x21 + Math.floor(random() * 94)
            : 0x80 + Math.floor(random() * 128);
    s += String.fromCharCode(c);
  }
  // A field value has no leading or trailing whitespace once parsed.
  return s.replace(/^[\t ]+|[\t ]+$/g, "") || "v";
}

test("the table gives the bytes Node's validating writeHead gives, for seeded random heads", () => {
  const random = seededRandom(SEED);
  let fromTable = 0;
  for (let round = 0; round < 300; round++) {
    const list: string[] = [];
    const lines = 1 + Math.floor(random() * 10);
    for (let i = 0; i < lines; i++) {
      const name = NAMES[Math.floor(random() * NAMES.length)];
      list.push(name, value(random));
      // An adjacent repeat now and then (Set-Cookie's usual shape).
      if (random() < 0.2) list.push(name, value(random));
    }
    list.push("content-length", "2", "x-request-id", `rid-${round}`, "connection", "keep-alive");
    // Each list twice, the second time with other values: a table kept from the first is refilled.
    for (const pass of [0, 1]) {
      if (pass === 1) for (let i = 1; i < list.length; i += 2) list[i] = value(random);
      const expected = response();
      expected.writeHead(200, list.slice());
      const got = response();
      const before = headsFromTable();
      writeUndiciHead(got, 200, list.slice(), true);
      const head = (r: ServerResponse) => (r as unknown as { _header: string })._header;
      assert.equal(
        head(got),
        head(expected),
        `round ${round}.${pass} ${JSON.stringify(list)} ${seedNote(SEED)}`,
      );
      if (headsFromTable() === before + 1) fromTable++;
      // The response keeps no table after its head (as after Node's list path).
      assert.equal(got.getHeader("x-request-id"), undefined);
    }
  }
  // Lists with a name repeated after another name are written by Node's list path (same bytes);
  // every other list came from the table.
  assert.ok(fromTable > 200, `only ${fromTable} of 600 heads were written from the table ${seedNote(SEED)}`);
  assert.deepEqual(
    missingInternals().filter((n) => n.includes("kOutHeaders")),
    [],
  );
});

test("a list not marked checked goes through Node's checks: a control character is still refused", () => {
  assert.equal(isPlainFieldValue("m1.example:80"), true);
  assert.equal(isPlainFieldValue("caf\u00e9\tx"), true);
  assert.equal(isPlainFieldValue("a\r\nx-injected: 1"), false);
  assert.equal(isPlainFieldValue("a\u0100"), false);
  const res = response();
  assert.throws(
    () => writeUndiciHead(res, 200, ["x-member", "a\r\nx-injected: 1"], false),
    (err: NodeJS.ErrnoException) => err.code === "ERR_INVALID_CHAR",
  );
  // A response that already holds a header keeps Node's merge of both.
  const held = response();
  held.setHeader("x-held", "1");
  writeUndiciHead(held, 200, ["x-a", "2"], true);
  assert.match((held as unknown as { _header: string })._header, /\r\nx-held: 1\r\nx-a: 2\r\n/);
});

/** An upstream that answers every request on a connection with `head` and the body "ok". */
async function rawUpstream(head: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s: Socket) => {
    s.on("error", () => {});
    let buf = "";
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      while (buf.includes("\r\n\r\n")) {
        buf = buf.slice(buf.indexOf("\r\n\r\n") + 4);
        s.write(Buffer.from(`HTTP/1.1 200 OK\r\n${head}Content-Length: 2\r\n\r\nok`, "latin1"));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

test("end to end: the upstream's head reaches the client byte for byte, written from the table", async (t) => {
  const upstreamHead =
    "Server: up/1.0\r\nDate: Sun, 06 Dec 2026 10:00:00 GMT\r\nContent-Type: text/plain; charset=latin1\r\n" +
    "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Latin: caf\u00e9 \u00ff\tend\r\nKeep-Alive: timeout=5\r\n";
  const up = await rawUpstream(upstreamHead);
  t.after(() => up.server.close());
  const config = configSchema.parse({
    pools: { users: { algorithm: "ring", members: [{ id: "m1", address: `127.0.0.1:${up.port}` }] } },
    routes: [{ match: { host: "*", pathPrefix: "/" }, pool: "users", key: ["header:x-user-id"] }],
  });
  const holder = createRoutingStateHolder(
    buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 1 }),
  );
  const plane = createDataPlane({
    getState: () => holder.get(),
    logger: SILENT_LOG,
    options: { engine: "undici" },
    hooks: { onRequestEnd() {} },
  });
  const server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: {
      timeouts: { request: 10_000, headers: 5_000, idle: 10_000, keepAlive: 5_000 },
      maxHeaderSize: 16_384,
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    plane.close();
  });
  const port = (server.address() as AddressInfo).port;
  const before = headsFromTable();
  const reply = await rawReply(port, DEADLINE_MS, (s) => {
    s.write(
      "GET /x HTTP/1.1\r\nHost: t\r\nX-User-Id: k\r\nX-Request-Id: rid-e2e\r\nConnection: close\r\n\r\n",
    );
  });
  assert.equal(
    reply,
    "HTTP/1.1 200 OK\r\nserver: up/1.0\r\ndate: Sun, 06 Dec 2026 10:00:00 GMT\r\n" +
      "content-type: text/plain; charset=latin1\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n" +
      "x-latin: caf\u00e9 \u00ff\tend\r\ncontent-length: 2\r\nx-request-id: rid-e2e\r\nconnection: close\r\n\r\nok",
  );
  // The head came from the response's header table.
  assert.equal(headsFromTable(), before + 1);
});
