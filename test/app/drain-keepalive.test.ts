// SIGTERM with keep-alive clients mid-request: every response still in flight when the drain
// starts says `Connection: close`, so no client sends its next request on a connection the drain
// is about to close. Before, Node kept answering `keep-alive` after close(), the drain closed
// each connection as idle right after its response, and a client that had already sent its next
// request on it got ECONNRESET: by hand, 8 keep-alive lanes under load, SIGTERM, 8 of 8 lanes
// reset, with and without workers. Real processes (one, and `--workers 2`), a real upstream on
// 127.0.0.1 that holds every request until the drain has begun.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { waitFor } from "../support/wait.js";
import { allWorkersAt } from "../support/workers.js";

after(() => stopAll());

const LANES = 6;

for (const workers of [1, 2]) {
  test(`workers: ${workers}, SIGTERM: in-flight keep-alive responses say Connection: close`, async (t) => {
    const held: http.ServerResponse[] = [];
    const upstream = http.createServer((_req, res) => {
      held.push(res);
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    t.after(async () => {
      for (const res of held) res.destroy();
      upstream.closeAllConnections();
      await new Promise<void>((r) => upstream.close(() => r()));
    });
    const port = (upstream.address() as AddressInfo).port;
    const sg = await startShardgate(poolConfig({ members: [{ id: "m1", port }] }), {
      args: ["--workers", String(workers), "--drain-timeout", "60s"],
      timeoutMs: 60_000,
    });
    t.after(() => sg.stop());
    if (workers > 1) await allWorkersAt(sg, workers, 1);

    const agent = new http.Agent({ keepAlive: true, maxSockets: LANES });
    t.after(() => agent.destroy());
    const url = new URL(sg.httpUrl);
    const replies = Array.from(
      { length: LANES },
      (_, i) =>
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          const req = http.get(
            { host: url.hostname, port: url.port, path: "/", agent, headers: { "x-user-id": `k${i}` } },
            (res) => {
              res.resume();
              res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
              );
            },
          );
          req.on("error", reject);
        }),
    );
    await waitFor(() => held.length === LANES, `${LANES} requests held by the upstream`, 60_000);

    const from = sg.proc.lines.length;
    sg.proc.signal("SIGTERM");
    // Every process that serves has begun its drain (the workers, or the one process).
    await waitFor(
      () =>
        sg.proc.lines
          .slice(from)
          .filter((l) => l.msg === "shutting down: draining" && (workers === 1 || l.worker !== undefined))
          .length === workers,
      "the drain begun",
      60_000,
    );
    for (const res of held) res.end("done");
    const got = await Promise.all(replies);
    assert.deepEqual(
      got,
      Array.from({ length: LANES }, () => ({ status: 200, connection: "close" })),
      sg.proc.output(),
    );
    const exit = await sg.proc.waitExit(60_000);
    assert.equal(exit.code, 0, sg.proc.output());
  });
}
