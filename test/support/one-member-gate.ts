// The shardgate a test file shares among its tests: one process in front of one echo upstream
// (pool member m1, no access log), started before the file's tests and stopped after them.
// `edit` adjusts the YAML poolConfig writes (a listen timeout, a header size) before the start.

import { after, before } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "./shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "./upstreams.js";

export interface OneMemberGate {
  /** The running process (set once the file's before hook ran). */
  sg: RunningShardgate;
  /** Member m1's upstream (its `requests` count what reached it). */
  upstream: EchoUpstream;
  /** The data listener's port. */
  port: number;
}

/** Registers the file's before/after hooks; the fields are set when its tests run. */
export function oneMemberGate(edit: (yaml: string) => string = (yaml) => yaml): OneMemberGate {
  const gate = {} as OneMemberGate;
  const upstreams: EchoUpstream[] = [];
  before(async () => {
    upstreams.push(...(await startUpstreams(1)));
    gate.upstream = upstreams[0];
    gate.sg = await startShardgate(
      edit(poolConfig({ members: [{ id: "m1", port: gate.upstream.port }], accessLog: false })),
    );
    gate.port = Number(new URL(gate.sg.httpUrl).port);
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });
  return gate;
}
