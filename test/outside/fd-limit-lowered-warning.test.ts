// Tried from the outside: a running shardgate's descriptor limit lowered (prlimit) and every
// number below it taken at once, before its 2 s sampler read the new limit. The sampler then
// found no descriptor to open /proc/self/limits with and kept the old limit: the warning said
// "limit": 20000 and "open": 20000 for an instance at a limit of a few hundred (seen with
// `workers: 2`, each worker lowered while running), pointing the operator at the wrong figure.
// /proc/self/limits is now kept open from the start, so the warning names the limit in force.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, test } from "node:test";
import { fdLimitUnavailable, highestFd, setSoftFdLimit } from "../support/fd-limit.js";
import { takeFreeBelow } from "../support/fd-limit-clients.js";
import { eventually, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";

const SKIP = fdLimitUnavailable();
const HEADROOM = 8;

const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
});

test("a limit lowered while running and reached at once: the warning names the new limit", {
  skip: SKIP ?? false,
}, async () => {
  const sg = await startShardgate(poolConfig({ members: [{ id: "m1", port: 9 }], accessLog: false }));
  const pid = sg.proc.child.pid;
  assert.ok(pid !== undefined);
  const port = Number(new URL(sg.httpUrl).port);
  const limit = highestFd(pid) + 1 + HEADROOM;
  setSoftFdLimit(pid, limit);
  // Fill every number below the new limit at once, and keep it filled until the sampler's
  // warning (its first sample at the limit; a freed number is taken again).
  const warn = await eventually(
    "the sampler's warning at the limit",
    async () => {
      const l = sg.proc.lines.find((x) => x.op === "descriptors" && x.code === "EMFILE");
      if (l !== undefined) return l;
      await takeFreeBelow(pid, limit, port, sockets);
      return undefined;
    },
    30_000,
    20,
  );
  assert.equal(warn.limit, limit, JSON.stringify(warn));
  assert.ok(typeof warn.open === "number" && warn.open <= limit, JSON.stringify(warn));
  for (const s of sockets) s.destroy();
  sockets.clear();
  assert.equal(sg.proc.exit, undefined, "still running");
});
