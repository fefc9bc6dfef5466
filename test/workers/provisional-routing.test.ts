// With `workers: 2` a worker's init message carries the start file's pools and routes only while
// the primary has no committed routing (a fleet without quorum yet): the committed state replaces
// them otherwise, and at 10,000 members they were ~700 KB per start for nothing. This is the case
// that still needs them: a real process joining a two-voter fleet whose peer never runs (a new
// data directory, so it waits to be admitted and nothing is ever committed) must route
// provisionally on its file (ring version 0) from both workers, and from a worker restarted
// meanwhile.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { freePorts } from "../support/ports.js";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { servingPids, spreadUntilPids, workerViews } from "../support/workers.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-provisional-"));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const SECRET = "provisional-routing-test-secret-0123456789";

test("workers: 2 without quorum: every worker, a restarted one too, routes on the file at ring version 0", async (t) => {
  const ups = await startUpstreams(2, "k");
  t.after(() => closeAll(ups));
  const [p1, p2] = await freePorts(2);
  const yaml = `${poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) })}headers:
  memberHeader: x-member
  ringVersionHeader: x-ring-version
cluster:
  id: n1
  listen: 127.0.0.1:${p1}
  dataDir: ${JSON.stringify(join(dir, "n1"))}
  secret: "${SECRET}"
  peers:
    - { id: n1, address: "127.0.0.1:${p1}" }
    - { id: n2, address: "127.0.0.1:${p2}" }
  voters: [n1, n2]
`;
  const sg = await startShardgate(yaml, { args: ["--workers", "2"], timeoutMs: 60_000, waitReady: false });
  t.after(() => sg.stop());
  const views = await eventually(
    "2 workers up",
    async () => {
      const v = await workerViews(sg);
      return v.length === 2 && v.every((w) => w.pid !== null) ? v : undefined;
    },
    60_000,
    100,
  );
  const check = (replies: Array<{ status: number; member: string; ringVersion: string }>): void => {
    for (const r of replies) {
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.match(r.member, /^k\d$/, JSON.stringify(r));
      assert.equal(r.ringVersion, "0", JSON.stringify(r));
    }
  };
  check(await spreadUntilPids(sg, (i) => `a${i}`, 2, 400, 0));

  // A worker restarted while nothing is committed gets the file's routing again.
  const old = views[0].pid;
  assert.ok(old !== null);
  process.kill(old, "SIGKILL");
  const restarted = await eventually(
    "worker 0 up under a new pid",
    async () => {
      const v = (await workerViews(sg))[0];
      return v.pid !== null && v.pid !== old ? v.pid : undefined;
    },
    60_000,
    100,
  );
  const from = sg.proc.lines.length;
  for (let i = 0; i < 50 && !servingPids(sg.proc.lines, from).has(restarted); i++)
    check(await spreadUntilPids(sg, (j) => `b${i}-${j}`, 1, 8, sg.proc.lines.length));
  assert.ok(
    servingPids(sg.proc.lines, from).has(restarted),
    "the restarted worker served none of 400 requests",
  );
});
