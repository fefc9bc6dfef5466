// `shardgate ctl --timeout DURATION` bounds each admin call (the config's duration syntax).
// Before, every call waited a fixed 15 s, and `--timeout` was refused as an unknown option.
// A real `ctl` process against a real HTTP server on 127.0.0.1 that reads the request and
// never answers: a short timeout exits 1 with the documented sentence; a bad value is a usage
// mistake (exit 2) that never contacts the server; --help documents the option.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { eventuallyTrue } from "../support/wait.js";

test("ctl --timeout: a silent admin API gives the documented error after that long", async (t) => {
  let requests = 0;
  const held = new Set<http.ServerResponse>();
  // Reads the request, then holds the response open until the test ends.
  const server = http.createServer((_req, res) => {
    requests++;
    held.add(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // 1 s, not less: on a loaded machine the server must get to read the request before ctl gives up.
  const r = await runCtl(["--admin", admin, "--timeout", "1s", "state"], {}, 60_000);
  const what = `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
  assert.equal(r.code, 1, what);
  assert.match(
    r.stderr,
    new RegExp(`cannot reach the admin API at ${admin}: no answer within 1000 ms`),
    what,
  );
  assert.ok(await eventuallyTrue(() => requests === 1), `the server read ${requests} requests\n${what}`);

  // The config's duration syntax, compound units included.
  const c = await runCtl(["--admin", admin, "--timeout", "1s200ms", "state"], {}, 60_000);
  assert.equal(c.code, 1, c.stderr);
  assert.match(c.stderr, /no answer within 1200 ms/, c.stderr);
  assert.ok(await eventuallyTrue(() => requests === 2), `the server read ${requests} requests`);

  // Not a duration in the config's syntax, or 0 (no call could ever succeed).
  const seen = requests;
  for (const bad of ["0", "soon", "1s1m", "-5s", "30 days", ""]) {
    const b = await runCtl(["--admin", admin, `--timeout=${bad}`, "state"]);
    const w = `--timeout ${JSON.stringify(bad)}: exit ${b.code}\n${b.stdout}\n${b.stderr}`;
    assert.equal(b.code, 2, w);
    assert.match(
      b.stderr,
      /--timeout expects a duration like "500ms", "2s", "1m30s" or a number of milliseconds/,
      w,
    );
    assert.match(b.stderr, /usage: shardgate ctl/, w);
  }
  assert.equal(requests, seen, "a bad --timeout contacts nobody");

  const help = await runCtl(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /\[--timeout DURATION\]/);
  assert.match(help.stdout, /--timeout bounds each admin call.*\(default 15s\)/);
});
