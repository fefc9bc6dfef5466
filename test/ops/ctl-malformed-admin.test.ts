// `shardgate ctl --admin` with an address that has the shape of a URL but is none (an IPv6
// bracket left open, a port past 65535) is a usage mistake like any other malformed address:
// exit 2 and one line naming what was given. Before, it passed the shape check, was sent to
// fetch, and came back as "cannot reach the admin API at http://[::1: ERR_INVALID_URL", exit 1:
// as if an instance were down. Real `ctl` processes; nothing needs to listen.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";

test("ctl --admin with a malformed URL is a usage error (exit 2), not an unreachable instance", async () => {
  for (const admin of ["http://[::1", "http://127.0.0.1:99999", "http://127.0.0.1:9901,http://[::1"]) {
    const r = await runCtl(["status", "--admin", admin]);
    const what = `ctl status --admin ${admin}: exit ${r.code}\n${r.stdout}\n${r.stderr}`;
    assert.equal(r.code, 2, what);
    const first = r.stderr.split("\n")[0];
    assert.match(first, /^shardgate ctl: --admin expects a URL like http:\/\/127\.0\.0\.1:9901, got "/, what);
    assert.ok(!r.stderr.includes("cannot reach"), what);
    assert.ok(!/\n\s+at /.test(r.stderr), `a stack trace\n${what}`);
  }
});
