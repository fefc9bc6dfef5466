// `shardgate ctl --admin` pointed at something that is not shardgate's admin API (another web
// server on that port answering 200 with HTML): every command exits 1 with one sentence naming
// the address and what answered. Before, `ctl state` printed the page and `ctl drain` reported
// "not draining (ring version undefined)", both exiting 0 as if they had worked. Real `ctl`
// processes against a real HTTP server on 127.0.0.1.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";

test("ctl against a web server that is not shardgate exits 1 naming the address", async (t) => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<html><body>welcome</body></html>");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const cmd of [["state"], ["drain", "users", "u1"], ["route", "users", "k1"], ["reload"]]) {
    const r = await runCtl([...cmd, "--admin", admin], { SHARDGATE_ADMIN_TOKEN: "t" });
    const what = `ctl ${cmd.join(" ")}: exit ${r.code}\n${r.stdout}\n${r.stderr}`;
    assert.equal(r.code, 1, what);
    assert.match(
      r.stderr,
      /is not a shardgate admin API: (GET|POST) \/\S+ answered 200 \(text\/html\)/,
      what,
    );
    assert.ok(!r.stdout.includes("<html>"), what);
  }
});
