// Settings of an in-process RaftDriver as the raft-io tests run it: a data directory under the
// test's root, fast timers, no fsync, the test's seed. Tests override what they look at.

import * as path from "node:path";
import type { RaftDriverOptions } from "../../../config/raft/driver.js";
import { SEED } from "../prng.js";
import { KvStateMachine } from "./kv-state-machine.js";

export function testDriverOptions(
  root: string,
  secret: string,
  id: string,
  peers: Record<string, string>,
  extra: Partial<RaftDriverOptions> = {},
): RaftDriverOptions {
  return {
    id,
    dataDir: path.join(root, id),
    secret,
    peers,
    stateMachine: new KvStateMachine(),
    heartbeatMs: 20,
    electionMs: 200,
    fsync: false,
    seed: SEED,
    requestTimeoutMs: 3000,
    ...extra,
  };
}
