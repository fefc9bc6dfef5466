// Tried from the outside: identity.json's rewrite when the fleet fixes its cluster id, at the
// process's descriptor limit. A real driver (one voter, file storage in a temp directory) is
// started; before it has elected itself, this test process lowers its own soft RLIMIT_NOFILE
// with prlimit and takes every descriptor left. The first leader commits the level entry that
// fixes the cluster id, and identity.json's temp file could not be opened (EMFILE): the driver
// stopped with a fatal error (raft_stopped, until a restart), though nothing had been written.
// Now the rewrite waits for a descriptor (one warning), proposals go on committing, the id is
// not announced ("clusterId", the transport) before it is on disk, and once descriptors are free
// identity.json names it.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { RaftDriver } from "../../config/raft/driver.js";
import { closeAll, fdLimitUnavailable, takeEveryFd } from "../support/fd-limit.js";
import { freePorts } from "../support/ports.js";
import { AtFdLimit } from "../support/raft-io/at-fd-limit.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SKIP = fdLimitUnavailable();
const SECRET = "fd-limit-raft-identity-secret-0123456789";
/** Proposals committed at the limit. */
const PROPOSALS = 5;

const atLimit = new AtFdLimit("sg-fd-ident-");
const { root, taken, drivers } = atLimit;
after(() => atLimit.release());

function identityCluster(): unknown {
  return (JSON.parse(readFileSync(join(root, "solo", "identity.json"), "utf8")) as { cluster?: unknown })
    .cluster;
}

test("identity.json's cluster-id rewrite at the descriptor limit waits for a descriptor; Raft goes on", {
  skip: SKIP ?? false,
}, async () => {
  const [port] = await freePorts(1);
  const warnings: string[] = [];
  const d = new RaftDriver(
    testDriverOptions(
      root,
      SECRET,
      "solo",
      { solo: `127.0.0.1:${port}` },
      { bootstrap: ["solo"], stateMachine: new KvStateMachine(), onWarning: (m) => warnings.push(m) },
    ),
  );
  drivers.push(d);
  let fatal: Error | undefined;
  d.on("fatal", (e: Error) => {
    fatal = e;
  });
  const announced: string[] = [];
  d.on("clusterId", (id: string) => announced.push(id));
  await d.start();
  // No event-loop turn between start() and the limit: the node has not elected itself yet.
  assert.notEqual(d.status().role, "leader", "still electing");
  assert.equal(d.clusterId, "");
  takeEveryFd(taken);
  let fixed = "";
  let committed = 0;
  try {
    await waitFor(
      () => d.clusterId !== "" || fatal !== undefined,
      "the cluster id fixed at the limit",
      20_000,
    );
    fixed = d.clusterId;
    for (let i = 0; i < PROPOSALS && fatal === undefined; i++) {
      await d.propose(kvCommand(`a${i}`, `v${i}`));
      committed++;
    }
  } finally {
    closeAll(taken);
  }
  // Read before the next event-loop turn, so the waiting rewrite cannot have run yet.
  const atLimit = [...announced];
  const shownAtLimit = d.status().clusterId;
  const onDisk = identityCluster();
  assert.equal(fatal, undefined, `the node stopped: ${String(fatal)}`);
  assert.equal(committed, PROPOSALS);
  assert.match(fixed, /^[0-9a-f]{16}$/);
  assert.equal(onDisk, undefined, "identity.json has no cluster id while no descriptor is free");
  assert.deepEqual(atLimit, [], "the id is not announced before it is durable");
  assert.equal(shownAtLimit, "", "status (what /admin/state shows) names no id before it is durable");
  assert.ok(
    warnings.some((w) =>
      /identity\.json not written yet \(cluster id\): no file descriptor left \(EMFILE\)/.test(w),
    ),
    warnings.join("\n"),
  );

  // Descriptors free: the waiting rewrite goes through and the id is announced once.
  await waitFor(() => announced.length > 0, "the cluster id announced once descriptors are free", 20_000);
  assert.deepEqual(announced, [fixed]);
  assert.equal(identityCluster(), fixed);
  await d.propose(kvCommand("b", "w"));
  assert.equal(fatal, undefined);
  assert.equal(d.status().role, "leader");
});
