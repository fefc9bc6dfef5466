// Tried from the outside: a client that leaves (FIN in listen.clientHalfClose abort mode, a
// reset, an HTTP/2 stream cancelled) after shardgate has sent it a 200 head and part of the
// body. The access line said 499 and shardgate_requests_total counted a 4xx, although the
// client was answered 200: what was sent is not what was logged. Now the line keeps the
// status sent with "error":"downstream_disconnected" (Envoy's DC response flag; nginx's 499
// is for nothing sent), shardgate_requests_total counts the status sent, and
// shardgate_downstream_client_errors_total{code="downstream_disconnected"} counts the
// disconnection. The upstream request is cut at once, as before. README "Security limits",
// Half-close. Real shardgate process, real upstream, raw sockets and an h2c session, loopback.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect as h2Connect, constants as h2c } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import {
  eventually,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

/** Bounds a wait that ends as soon as shardgate acts; only a failure waits this long. */
const DEADLINE_MS = 20_000;
const FIRST_PART = "first-part-of-the-body\n";

let upstream: StreamingUpstream;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstream = await startStreamingUpstream();
  // The default listen.clientHalfClose (abort); a held answer would stay for timeouts.response.
  sg = await startShardgate(
    poolConfig({
      members: [{ id: "s1", port: upstream.port }],
      accessLog: true,
      poolExtra: "    timeouts: { response: 120s }",
    }),
  );
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  upstream?.server.closeAllConnections();
  await new Promise((r) => upstream?.server.close(r));
});

async function accessLine(path: string): Promise<Record<string, unknown>> {
  return eventually(`the access line of ${path}`, () =>
    sg.proc.lines.find((l) => l.type === "access" && l.path === path),
  );
}

async function upstreamCut(path: string): Promise<void> {
  await eventually(
    `the upstream's request ${path} cut`,
    () => (upstream.cut.has(path) ? true : undefined),
    DEADLINE_MS,
  );
}

for (const how of ["FIN", "reset"] as const) {
  test(`HTTP/1.1, abort mode: ${how} after a 200 head and part of the body: logged 200 downstream_disconnected, not 499`, async () => {
    const path = `/stream/h1-${how}`;
    const { reply } = await rawSession(port, DEADLINE_MS, (s) => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: a.example\r\nx-user-id: u\r\n\r\n`);
      let seen = "";
      s.on("data", (d: Buffer) => {
        seen += d.toString("latin1");
        if (!seen.includes(FIRST_PART)) return;
        if (how === "FIN") s.end();
        else s.destroy();
      });
    });
    assert.match(reply, /^HTTP\/1\.1 200 /, JSON.stringify(reply.slice(0, 300)));
    await upstreamCut(path);
    const line = await accessLine(path);
    assert.equal(line.status, 200, JSON.stringify(line));
    assert.equal(line.error, "downstream_disconnected", JSON.stringify(line));
  });
}

test("h2c: the client cancels its stream after a 200 head and part of the body: logged 200 downstream_disconnected", async () => {
  const path = "/stream/h2-cancel";
  const session = h2Connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ":path": path, "x-user-id": "u" });
      let got = 0;
      let seen = "";
      stream.on("response", (h) => {
        got = Number(h[":status"]);
      });
      stream.on("data", (d: Buffer) => {
        seen += d.toString();
        if (seen.includes(FIRST_PART)) stream.close(h2c.NGHTTP2_CANCEL);
      });
      stream.on("close", () => resolve(got));
      stream.on("error", reject);
      stream.end();
    });
    assert.equal(status, 200);
  } finally {
    session.close();
  }
  await upstreamCut(path);
  const line = await accessLine(path);
  assert.equal(line.status, 200, JSON.stringify(line));
  assert.equal(line.error, "downstream_disconnected", JSON.stringify(line));
});

test("metrics: the three disconnections are counted as such, and shardgate_requests_total counts the 200s sent", async () => {
  // Runs after the tests above (node:test runs a file's tests in order).
  const text = await eventually("three downstream_disconnected", async () => {
    const t = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    const n = metricValue(t, "shardgate_downstream_client_errors_total", { code: "downstream_disconnected" });
    return n === 3 ? t : undefined;
  });
  const labels = { route: routeLabel(text), pool: "users", member: "s1" };
  assert.equal(metricValue(text, "shardgate_requests_total", { ...labels, code_class: "2xx" }), 3);
  assert.equal(metricValue(text, "shardgate_requests_total", { ...labels, code_class: "4xx" }) ?? 0, 0);
});

/** The route label shardgate_requests_total gives the one route (read, not assumed). */
function routeLabel(text: string): string {
  const m = /shardgate_requests_total\{[^}]*route="([^"]*)"/.exec(text);
  assert.ok(m, "a shardgate_requests_total sample");
  return m[1];
}

interface StreamingUpstream {
  server: Server;
  port: number;
  /** Paths whose answer was cut before it ended (only shardgate cutting it ends one). */
  cut: Set<string>;
}

/** An upstream that answers 200 with a chunked body, writes its first part and never ends it. */
async function startStreamingUpstream(): Promise<StreamingUpstream> {
  const cut = new Set<string>();
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    res.writeHead(200, { "content-type": "text/plain" });
    res.write(FIRST_PART);
    res.on("close", () => cut.add(path));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port, cut };
}
