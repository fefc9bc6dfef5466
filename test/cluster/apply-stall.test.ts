// A node whose Raft Ready pass waits forever (a storage sync that never returns) applies
// nothing more: its core goes on learning commit indexes from the leader while its state
// machine, and so its ring, stays at an old version (seen once in an e2e fleet: instance b at
// applied 13 / ring version 8 with commit 15 for 45 s). It used to say nothing about it:
// /readyz 200 not degraded, /admin/state without a reason. Now, once the wait lasts
// APPLY_STALL_MS, degradedReason() is "apply_stalled" (what /readyz and /admin/state show) with
// a cause naming what the pass waits on; when the sync returns, the node applies and clears it.
// The stall is injected through the storage's file-system seam: fdatasync held on demand.
// One real driver on a loopback port, with fsync on (a non-ephemeral data directory). The node
// runs with the bound shortened (its applyStallMs test seam): what is tried is that the stall is
// said once the bound passes, not before, and clears; not the bound's 10 s.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseRouting } from "../../config/file/load.js";
import { consulAgentSchema } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { nodeStorageFs, type StorageFs } from "../../config/raft/storage/index.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { voterSettings } from "../support/cluster/one-voter.js";
import { freePorts } from "../support/ports.js";
import { eventually, scaled } from "../support/wait.js";

const routing = parseRouting({
  pools: { users: { members: [{ id: "u1", address: "127.0.0.1:9" }] } },
  routes: [{ pool: "users", key: ["header:x-user-id"] }],
});
if (!routing.ok) throw new Error(`test routing invalid: ${JSON.stringify(routing.errors)}`);
const fileRouting = routing.routing;
/**
 * The node's stall bound here (APPLY_STALL_MS is 10 s). The test sees the held sync up to one
 * 50 ms poll late; the lower limit's 10% margin (300 ms) still covers that.
 */
const STALL_MS = Math.min(scaled(3_000), 10_000);

const nodes: ClusterNode[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("a Ready pass stuck on a storage sync makes the node say apply_stalled, and it clears once the sync returns", {
  timeout: 120_000,
}, async () => {
  const lines: Array<{ level: string; msg: string }> = [];
  const rec =
    (level: string) =>
    (_obj: object, msg?: string): void => {
      lines.push({ level, msg: msg ?? "" });
    };
  const logger: LogSink = { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
  const count = (msg: string) => lines.filter((l) => l.msg === msg).length;
  // While `held` is set, every fdatasync waits for release().
  let held: Array<() => void> | null = null;
  const release = () => {
    const waiting = held ?? [];
    held = null;
    for (const go of waiting) go();
  };
  const fs: StorageFs = {
    ...nodeStorageFs,
    async fdatasync(fd) {
      if (held !== null) {
        const queue = held;
        await new Promise<void>((resolve) => queue.push(resolve));
      }
      return nodeStorageFs.fdatasync(fd);
    },
  };
  const [port] = await freePorts(1);
  const dataDir = mkdtempSync(join(tmpdir(), "sg-stall-"));
  dirs.push(dataDir);
  const settings = voterSettings({
    id: "a",
    peers: { a: `127.0.0.1:${port}` },
    dataDir,
    secret: "apply-stall-test-secret-0123456789",
    ephemeral: false,
  });
  const node = new ClusterNode({
    settings,
    logger,
    fileRouting: () => fileRouting,
    agent: consulAgentSchema.parse({}),
    outcomes: new OutcomeRecorders(),
    onApplied: () => undefined,
    storageFs: fs,
    applyStallMs: STALL_MS,
  });
  nodes.push(node);
  await node.start();
  const seed = { v: 1, type: "SetRouting", routing: fileRouting } as const;
  // Leader, state seeded, one command through: the node applies normally.
  await eventually("the node leads and is not degraded", () =>
    node.raftView().role === "leader" && node.degradedReason() === null ? true : undefined,
  );
  await eventually("a command commits", () => node.propose(seed).catch(() => undefined), 20_000);
  assert.equal(node.degradedReason(), null);

  held = [];
  const stuck = node.propose(seed).catch((err: unknown) => err);
  await eventually("the Ready pass waits on the held fdatasync", () =>
    (held?.length ?? 0) > 0 ? true : undefined,
  );
  const started = performance.now();
  await eventually(
    "degraded apply_stalled",
    () => (node.degradedReason() === "apply_stalled" ? true : undefined),
    STALL_MS + 30_000,
  );
  const waited = performance.now() - started;
  assert.ok(
    waited >= STALL_MS * 0.9,
    `said stalled after ${Math.round(waited)} ms, before its ${STALL_MS} ms bound`,
  );
  assert.match(
    node.degradedCause ?? "",
    /waited \d+ ms on storage sync/,
    "the cause names what the pass waits on",
  );
  assert.equal(node.degradedReason(), "apply_stalled", "asked again: still stalled");
  assert.equal(count("raft apply stalled"), 1, "one warning line, not one per probe");

  release();
  await stuck;
  await eventually("the node applies again and is not degraded", () => {
    const r = node.raftView();
    return node.degradedReason() === null && r.appliedIndex === r.commitIndex ? true : undefined;
  });
  assert.equal(node.degradedCause, null);
  assert.equal(count("raft apply resumed"), 1);
  const index = await node.propose(seed);
  assert.ok(index > 0, "a later command commits and applies");
});
