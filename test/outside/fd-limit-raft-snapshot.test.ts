// Tried from the outside: a Raft node's snapshot at the process's descriptor limit. A real
// driver (one voter, file storage in a temp directory) takes a first snapshot; then this test
// process lowers its own soft RLIMIT_NOFILE with prlimit and takes every descriptor left, and
// proposes until the next snapshot is due. Its temp file could not be opened (EMFILE): the
// driver stopped with a fatal error (raft_stopped above it, until a restart), as on a full disk,
// although nothing had been written. Now the snapshot is postponed with a warning, proposals go
// on committing at the limit, and once descriptors are free the next snapshot is taken.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { RaftDriver } from "../../config/raft/driver.js";
import { closeAll, fdLimitUnavailable, takeEveryFd } from "../support/fd-limit.js";
import { freePorts } from "../support/ports.js";
import { AtFdLimit } from "../support/raft-io/at-fd-limit.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { eventually, waitFor } from "../support/wait.js";

const SKIP = fdLimitUnavailable();
const SECRET = "fd-limit-raft-snapshot-secret-0123456789";
const SNAPSHOT_EVERY = 10;

const atLimit = new AtFdLimit("sg-fd-snap-");
const { root, taken, drivers } = atLimit;
after(() => atLimit.release());

test("a snapshot that finds no descriptor is postponed; the node keeps committing and snapshots once one is free", {
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
      {
        bootstrap: ["solo"],
        stateMachine: new KvStateMachine(),
        snapshotEvery: SNAPSHOT_EVERY,
        compactMargin: 2,
        onWarning: (m) => warnings.push(m),
      },
    ),
  );
  drivers.push(d);
  let fatal: Error | undefined;
  d.on("fatal", (e: Error) => {
    fatal = e;
  });
  await d.start();
  await waitFor(() => d.status().role === "leader", "solo leads", 10_000);
  for (let i = 0; i < SNAPSHOT_EVERY + 2; i++) await d.propose(kvCommand(`a${i}`, `v${i}`));
  await waitFor(() => d.status().snapshotIndex > 0, "a first snapshot", 10_000);
  const first = d.status().snapshotIndex;
  // identity.json's one-time writes (the cluster id fixed, this node admitted) are done first,
  // so the snapshot is what meets the limit (those writes: fd-limit-raft-identity.test.ts).
  await waitFor(() => d.clusterId !== "" && d.admitted, "the cluster id fixed and the node admitted", 10_000);

  takeEveryFd(taken);
  // Past the next snapshot point: every proposal still commits.
  for (let i = 0; i < 2 * SNAPSHOT_EVERY; i++) await d.propose(kvCommand(`b${i}`, `w${i}`));
  const postponed = warnings.find((w) => w.includes("postponed"));
  const atLimit = d.status().snapshotIndex;
  closeAll(taken);
  assert.equal(fatal, undefined, `the node stopped: ${String(fatal)}`);
  assert.match(String(postponed), /no file descriptor left \(EMFILE\)/, warnings.join("\n"));
  assert.equal(atLimit, first, "no snapshot at the limit");

  // Snapshots are tried as entries apply (a postponed one waits a second): keep proposing.
  let n = 0;
  await eventually(
    "a snapshot once descriptors are free",
    async () => {
      await d.propose(kvCommand(`c${n}`, `x${n++}`));
      return d.status().snapshotIndex > first ? true : undefined;
    },
    10_000,
    20,
  );
  assert.equal(fatal, undefined);
});
