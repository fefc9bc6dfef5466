// A leader whose Raft log cannot be written (ENOSPC, EROFS) stops its driver; the takeover
// that was seeding the cluster state then failed, and used to retry every 200 ms forever
// ("leader takeover failed; retrying"), since a stopped driver never comes back. Now the
// takeover gives up once, with one error line, and the node says why it is degraded
// (/readyz and /admin/state read degradedReason and raftStoppedCause). The disk failure is
// injected through the storage's file-system seam, armed when the node becomes leader: the
// seeding proposal is the first write to fail. One real driver on a loopback port.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseRouting } from "../../config/file/load.js";
import { consulAgentSchema } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { nodeStorageFs, type StorageFs } from "../../config/raft/storage/index.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { oneVoterSettings } from "../support/cluster/one-voter.js";
import { freePorts } from "../support/ports.js";
import { eventually } from "../support/wait.js";

const routing = parseRouting({
  pools: { users: { members: [{ id: "u1", address: "127.0.0.1:9" }] } },
  routes: [{ pool: "users", key: ["header:x-user-id"] }],
});
if (!routing.ok) throw new Error(`test routing invalid: ${JSON.stringify(routing.errors)}`);
const fileRouting = routing.routing;

const nodes: ClusterNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
});

test("a leader whose Raft driver stopped on ENOSPC gives up its takeover once and says why", {
  timeout: 60_000,
}, async () => {
  const lines: Array<{ level: string; msg: string; obj: object }> = [];
  const rec =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, msg: msg ?? "", obj });
    };
  const logger: LogSink = { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };

  let full = false;
  const fs: StorageFs = {
    ...nodeStorageFs,
    write(fd, buf, position) {
      if (full) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      nodeStorageFs.write(fd, buf, position);
    },
  };
  const [port] = await freePorts(1);
  const settings = oneVoterSettings(
    port,
    mkdtempSync(join(tmpdir(), "sg-stopped-")),
    "raft-stopped-takeover-secret-0123456789",
  );

  const node = new ClusterNode({
    settings,
    logger,
    fileRouting: () => fileRouting,
    agent: consulAgentSchema.parse({}),
    outcomes: new OutcomeRecorders(),
    onApplied: () => undefined,
    storageFs: fs,
  });
  nodes.push(node);
  // Before the node's own listener runs its takeover: the seeding write is the first to fail.
  node.driver.on("roleChange", (role: string) => {
    if (role === "leader") full = true;
  });
  await node.start();

  const gaveUp = await eventually(
    "the takeover gives up (one error line) instead of retrying",
    () => lines.find((l) => l.msg.startsWith("leader takeover abandoned")),
    20_000,
  ).catch((err: unknown) => {
    const retries = lines.filter((l) => l.msg === "leader takeover failed; retrying").length;
    throw new Error(`${(err as Error).message}; ${retries} "retrying" lines so far`);
  });
  assert.match(JSON.stringify(gaveUp.obj), /ENOSPC/, "the log line names the cause");
  assert.equal(node.degradedReason(), "raft_stopped");
  assert.match(node.raftStoppedCause ?? "", /ENOSPC/, "/readyz and /admin/state show the cause");
  // Given up for good: a takeover that did retry logs a "retrying" line before each attempt, and
  // the give-up line comes from the first failure after the driver stopped.
  const retries = lines.filter((l) => l.msg === "leader takeover failed; retrying").length;
  assert.ok(retries <= 1, `${retries} retry lines`);
  assert.equal(lines.filter((l) => l.msg.startsWith("leader takeover abandoned")).length, 1);
});
