// Tried from the outside: a voter at its own descriptor limit dialling a Raft peer. Voter a of
// a two-voter fleet runs; its peer b does not, so a keeps dialling b (refused: one info line).
// Then a's soft RLIMIT_NOFILE is lowered with prlimit and its descriptors are taken by client
// connections: the dial fails with EMFILE before any packet leaves. That was logged at info as
// "cannot connect to <b's address>", as if b were down; now it is a warning that says this
// instance has no descriptor left (its own limit, not the peer's). The process keeps running.
// Each such dial is also counted as local_resource_exhausted_total{op="raft_dial"} (it was only
// logged: the metric and the alert on it said nothing of a voter that could not reach its peers).

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, test } from "node:test";
import { fdLimitUnavailable, highestFd, setSoftFdLimit } from "../support/fd-limit.js";
import { takeFreeBelow } from "../support/fd-limit-clients.js";
import { freePorts } from "../support/ports.js";
import { type LogLine, metricValue, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const SKIP = fdLimitUnavailable();
/** The dial's backoff grows to a few seconds: the limit must hold over several attempts. */
const DIAL_WAIT_MS = 60_000;

const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
});

const dialTo = (peer: string, code: string) => (l: LogLine) =>
  l.component === "raft" && l.peer === peer && l.code === code;

test("a Raft dial failing with EMFILE is a warning naming this instance's limit, not the peer", {
  skip: SKIP ?? false,
}, async () => {
  const [pa, pb] = await freePorts(2);
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
cluster:
  id: a
  listen: 127.0.0.1:${pa}
  secret: fd-limit-raft-dial-cluster-secret-0123456789
  bootstrap: new
  electionTimeout: 1s
  heartbeat: 100ms
  peers:
    - { id: a, address: "127.0.0.1:${pa}" }
    - { id: b, address: "127.0.0.1:${pb}" }
pools:
  users:
    members: [{ id: s1, address: "127.0.0.1:9" }]
routes:
  - { match: { pathPrefix: / }, pool: users, key: [header:x-user-id] }
`,
    { waitReady: false },
  );
  const pid = sg.proc.child.pid;
  assert.ok(pid !== undefined);
  const port = Number(new URL(sg.httpUrl).port);
  const refused = await sg.proc.waitForLine("a's refused dial to b", dialTo("b", "ECONNREFUSED"));
  assert.equal(refused.level, "info", JSON.stringify(refused));

  const limit = highestFd(pid) + 1 + 8;
  setSoftFdLimit(pid, limit);
  // Keep every descriptor number below the limit taken until a dial meets it.
  const line = await eventually(
    "a's dial to b failing with EMFILE",
    async () => {
      const l = sg.proc.lines.find(dialTo("b", "EMFILE"));
      if (l !== undefined) return l;
      await takeFreeBelow(pid, limit, port, sockets);
      return undefined;
    },
    DIAL_WAIT_MS,
    50,
  );
  assert.equal(line.level, "warn", JSON.stringify(line));
  assert.match(String(line.msg), /its own limit, not the peer's/, JSON.stringify(line));
  for (const s of sockets) s.destroy();
  sockets.clear();
  // Counted as well, read once the clients left (at the limit the admin listener takes no one;
  // it answers without quorum).
  const metrics = await eventually("/metrics once descriptors are free", async () => {
    try {
      return await (await fetch(`${sg.adminUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    } catch {
      return undefined;
    }
  });
  assert.ok(
    (metricValue(metrics, "shardgate_local_resource_exhausted_total", { op: "raft_dial" }) ?? 0) >= 1,
    metrics
      .split("\n")
      .filter((l) => l.includes("local_resource_exhausted"))
      .join("\n"),
  );
  assert.equal(sg.proc.exit, undefined, "still running");
});
