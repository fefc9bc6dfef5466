// Hostile: 1,000 WebSocket upgrades closed by their clients, against a real shardgate process
// in front of an upstream that never closes its side (issue 10, item 3). The proxy's open file
// descriptors and its shardgate_requests_in_flight gauge return to baseline.

import assert from "node:assert/strict";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { after, test } from "node:test";
import { eventually, startShardgate, stopAll } from "../support/shardgate-process.js";
import { fdCount, metricSum, portOf } from "./hostile-support.js";

after(stopAll);

const TOTAL = 1000;
const BATCH = 100;

function upgradeThenLeave(port: number, i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // Each from its own loopback address: an open WebSocket counts against its client's share of
    // the member (listen.maxUpstreamPerClient), and a batch of 100 from one address could find
    // the last batch's tunnels not yet ended (503 client_share_exceeded at upgrade 928, 1 run in
    // 5): the share is not what this test measures, the leak is.
    const s = connect({ port, host: "127.0.0.1", localAddress: `127.0.0.${2 + (i % 250)}` });
    let got = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`upgrade ${i}: no 101 within 10 s (${JSON.stringify(got.slice(0, 60))})`));
    }, 10_000);
    s.on("error", () => {});
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (!got.includes("\r\n\r\n")) return;
      clearTimeout(timer);
      if (!got.startsWith("HTTP/1.1 101")) {
        s.destroy();
        reject(new Error(`upgrade ${i}: ${got.slice(0, 400)}`));
        return;
      }
      s.removeAllListeners("data");
      s.resume();
      s.end();
      // Our side is done; the proxy's close is what the test measures, on its own fds.
      s.on("close", () => undefined);
      setTimeout(() => s.destroy(), 50);
      resolve();
    });
    s.write(
      `GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-User-Id: u${i}\r\n\r\n`,
    );
  });
}

test(`${TOTAL} upgrades closed by their clients leave fds and in-flight at baseline`, {
  timeout: 120_000,
}, async (t) => {
  // An upstream that switches protocols and then ignores the peer's FIN (keeps its half open).
  // Its connects get 10 s, not the default 1 s: on a loaded machine 100 at once to one Node
  // upstream took longer (upstream_connect_failed, 1 run in 4), and connect speed is not what
  // this test measures.
  const held = new Set<Socket>();
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    held.add(s);
    s.on("close", () => held.delete(s));
    s.on("error", () => {});
    s.once("data", () =>
      s.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
      ),
    );
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  t.after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => upstream.close(() => r()));
  });
  const sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  users:
    members: [{ id: ws1, address: "127.0.0.1:${(upstream.address() as AddressInfo).port}" }]
    timeouts: { tunnelIdle: 5s, connect: 10s }
routes:
  - pool: users
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const pid = sg.proc.child.pid as number;
  const port = portOf(sg.httpUrl);
  // Baseline after one request has warmed up the admin and proxy paths.
  await fetch(`${sg.adminUrl}/metrics`);
  const baseline = fdCount(pid);
  let peak = 0;
  for (let i = 0; i < TOTAL; i += BATCH) {
    await Promise.all(Array.from({ length: BATCH }, (_, j) => upgradeThenLeave(port, i + j)));
    peak = Math.max(peak, fdCount(pid));
  }
  const settled = await eventually(
    "fds and in-flight back to baseline",
    async () => {
      const fds = fdCount(pid);
      const inFlight = await metricSum(sg.adminUrl, "shardgate_requests_in_flight");
      return fds <= baseline + 5 && inFlight === 0 ? { fds, inFlight } : undefined;
    },
    // The tunnels end at once on the client's FIN; the idle timeout (5 s) is the outer bound.
    15_000,
    200,
  ).catch((err: Error) => err);
  assert.ok(
    !(settled instanceof Error),
    `baseline ${baseline} fds, peak ${peak}, now ${fdCount(pid)}; ${settled instanceof Error ? settled.message : ""}`,
  );
});
