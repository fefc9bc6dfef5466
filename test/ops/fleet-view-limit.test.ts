// The dashboard's fleet view reads each neighbour listed in `admin.fleet` with a bound on the
// bytes it takes (FLEET_ANSWER_MAX_BYTES, 4 MiB), not only on time: a broken or hostile
// neighbour that streams an endless answer, or declares a huge one, is marked unreachable with
// the limit as its error, and the rest of the view (this instance) is still answered. Real
// shardgate process, real neighbours on loopback.

import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

const TOKEN = "fleet-limit-token";
/** The most any one endless answer writes before the test stops it: far above the cap. */
const STREAM_STOP_BYTES = 256 * 1024 * 1024;

after(stopAll);

async function listen(handler: (path: string, res: ServerResponse) => void): Promise<Server> {
  const s = createServer((req, res) => handler(req.url ?? "", res));
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return s;
}

function close(s: Server): Promise<void> {
  return new Promise((r) => {
    s.closeAllConnections();
    s.close(() => r());
  });
}

test("a neighbour's oversized admin answer: that neighbour errors, the view is kept", async (t) => {
  let streamed = 0;
  // Endless: a JSON object whose string never ends, written as fast as the reader takes it.
  const endless = await listen((path, res) => {
    if (path !== "/admin/state") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"raft":{"id":"evil"},"pad":"');
    const chunk = Buffer.alloc(64 * 1024, "a");
    const pump = () => {
      while (!res.destroyed && streamed < STREAM_STOP_BYTES) {
        streamed += chunk.length;
        if (!res.write(chunk)) return;
      }
      if (!res.destroyed) res.end('"}');
    };
    res.on("drain", pump);
    pump();
  });
  // Declares 100 MiB and sends a small start of it, then waits.
  const declared = await listen((path, res) => {
    if (path !== "/admin/state") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": String(100 * 1024 * 1024) });
    res.write('{"raft":{"id":"big"},"pad":"');
  });
  t.after(() => close(endless));
  t.after(() => close(declared));
  const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  const ups = await startUpstreams(1, "fl");
  t.after(() => closeAll(ups));
  const yaml = poolConfig({
    members: ups.map((u) => ({ id: u.id, port: u.port })),
    token: TOKEN,
    accessLog: false,
  });
  const fleet = `  fleet: ["${urlOf(endless)}", "${urlOf(declared)}"]\n`;
  const sg = await startShardgate(yaml.replace(`  token: "${TOKEN}"\n`, `  token: "${TOKEN}"\n${fleet}`));
  t.after(() => sg.stop());

  const r = await fetch(`${sg.adminUrl}/admin/dashboard`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const text = await r.text();
  assert.equal(r.status, 200, text.slice(0, 500));
  const view = (JSON.parse(text) as { fleet: Array<Record<string, unknown>> }).fleet;
  const what = JSON.stringify(view);
  t.diagnostic(`the endless neighbour wrote ${streamed} bytes before its answer was cut`);
  const self = view.find((v) => v.self === true);
  assert.equal(self?.role, "leader", what);
  for (const url of [urlOf(endless), urlOf(declared)]) {
    const n = view.find((v) => v.admin === url);
    assert.equal(n?.reachable, false, what);
    assert.equal(n?.error, "answer larger than 4194304 bytes", what);
  }
  assert.ok(streamed < STREAM_STOP_BYTES, `the endless answer was cut (${streamed} bytes written)`);
});
