// A real shardgate process meets a committed entry of a later version: its fleet peer is an
// in-process Raft driver (same secret, the peer a newer build would be) that proposes a command
// this build does not know. The process must not skip it: it stops applying, keeps routing on
// what it applied, answers admin writes 503 upgrade_required with Retry-After, and /readyz and
// /admin/state say degraded "upgrade_required" with the entry; restarted on the same data
// directory it refuses to start, naming the reason. /admin/state shows the levels before that.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CURRENT_LEVEL } from "../../config/raft/core/index.js";
import { RaftDriver } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { KvStateMachine } from "../support/raft-io/kv-state-machine.js";
import {
  fetchJson,
  poolConfig,
  type RunningShardgate,
  ShardgateChild,
  startShardgate,
  TempConfig,
} from "../support/shardgate-process.js";
import { CONDITION_DEADLINE_MS, eventually } from "../support/wait.js";

const SECRET = "upgrade-required-secret-0123456789";
const TOKEN = "upgrade-required-token";
const dir = mkdtempSync(join(tmpdir(), "sg-upgrade-"));
let sg: RunningShardgate | undefined;
let peer: RaftDriver | undefined;
after(async () => {
  await sg?.stop();
  await peer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function yaml(ports: readonly number[]): string {
  return `${poolConfig({ members: [{ id: "u1", port: 9 }], token: TOKEN, accessLog: false })}cluster:
  id: a
  listen: 127.0.0.1:${ports[0]}
  dataDir: ${JSON.stringify(join(dir, "a"))}
  secret: "${SECRET}"
  peers:
    - { id: a, address: "127.0.0.1:${ports[0]}" }
    - { id: b, address: "127.0.0.1:${ports[1]}" }
  voters: [a, b]
  bootstrap: new
  electionTimeout: 300ms
  heartbeat: 50ms
`;
}

interface StateView {
  degraded?: string;
  degradedCause?: string;
  pools: Record<string, { members: { id: string }[] }>;
  raft?: { level: number; clusterLevel: number; memberLevels?: Record<string, number | null> };
}

test("a later version's committed command: 503 upgrade_required, degraded, and no restart past it", {
  timeout: 120_000,
}, async () => {
  const ports = await freePorts(2);
  const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}` };
  peer = new RaftDriver({
    id: "b",
    dataDir: join(dir, "b"),
    secret: SECRET,
    peers,
    bootstrap: ["a", "b"],
    stateMachine: new KvStateMachine(),
    heartbeatMs: 50,
    electionMs: 300,
    fsync: false,
  });
  await peer.start();
  sg = await startShardgate(yaml(ports), { timeoutMs: 30_000, waitReady: false });
  // The bare driver does not seed the routing (a shardgate leader does): let a lead.
  await eventually(
    "a leads",
    async () => {
      const st = peer?.status();
      if (st?.leader === "a") return true;
      if (st?.leader === "b") await peer?.transferLeadership("a").catch(() => undefined);
      return undefined;
    },
    30_000,
  );
  const state = async () => (await fetchJson(`${sg?.adminUrl}/admin/state`)).body as StateView;
  const levels = await eventually(
    "the cluster level committed and shown",
    async () => {
      const s = await state();
      return s.raft?.clusterLevel === CURRENT_LEVEL ? s.raft : undefined;
    },
    30_000,
  );
  assert.equal(levels.level, CURRENT_LEVEL);
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  assert.match(metrics, new RegExp(`^shardgate_cluster_level ${CURRENT_LEVEL}$`, "m"));

  // The newer peer commits a command type this build does not know.
  const future = Buffer.from(JSON.stringify({ v: 1, type: "SetQuantumRouting", pools: {} }));
  // a leads: it commits and applies it, and stops there (b, alone, then has no quorum).
  void peer.propose(future).catch(() => undefined);
  // The peer's view and ours at the deadline, if it passes: leadership may move under load.
  let seen = "";
  const s = await eventually(
    "degraded upgrade_required",
    async () => {
      const v = await state();
      seen = `shardgate: degraded=${String(v.degraded)} raft=${JSON.stringify(v.raft)}; peer: ${JSON.stringify(peer?.status().role)} leader=${String(peer?.status().leader)} applied=${String(peer?.status().appliedIndex)}`;
      return v.degraded === "upgrade_required" ? v : undefined;
    },
    CONDITION_DEADLINE_MS,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${seen}\n${sg?.proc.output() ?? ""}`);
  });
  assert.match(s.degradedCause ?? "", /SetQuantumRouting/);
  assert.deepEqual(
    s.pools.users.members.map((m) => m.id),
    ["u1"],
    "still routing on what it applied",
  );
  const ready = await fetchJson(`${sg.adminUrl}/readyz`);
  assert.equal(ready.status, 200, ready.text);
  assert.equal((ready.body as { reason?: string }).reason, "upgrade_required", ready.text);
  const drain = await fetchJson(`${sg.adminUrl}/admin/pools/users/members/u1/drain`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(drain.status, 503, drain.text);
  assert.equal((drain.body as { error: string }).error, "upgrade_required", drain.text);
  assert.ok(Number(drain.headers.get("retry-after")) > 0, "with Retry-After");
  const stoppedLine = (l: { msg?: unknown }) => String(l.msg).startsWith("raft stopped applying");
  const line = await sg.proc.waitForLine("the log line saying why", stoppedLine, 15_000);
  assert.equal(line.level, "error");
  // Another admin write, then every line so far: the reason was logged once.
  await fetchJson(`${sg.adminUrl}/admin/pools/users/members/u1/undrain`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await sg.stop();
  assert.equal(sg.proc.lines.filter(stoppedLine).length, 1, "logged once");

  // Restarted on the same data directory: refuses to start and says why.
  sg = undefined;
  const config = new TempConfig(yaml(ports));
  const child = new ShardgateChild(["start", "--config", config.path]);
  const exit = await child.waitExit(30_000).finally(async () => {
    await child.stop();
    config.remove();
  });
  assert.notEqual(exit.code, 0, "a restart on a log with a later version's entry must not serve");
  assert.match(child.output(), /UPGRADE_REQUIRED|later version/, child.output());
});
