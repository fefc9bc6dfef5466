// A shardgate process in front of one h2c member the test starts (a raw frame server, most
// often), started once per test file: pool `users` of that member alone as `m1`, no access log.

import { after, before } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "./shardgate-process.js";
import { startedInHook } from "./started-in-hook.js";

export interface H2cMemberGate<M> {
  readonly member: M;
  readonly sg: RunningShardgate;
}

/** Starts the member, then shardgate, in the file's `before` hook; stops both in its `after` hook. */
export function h2cMemberGatePerFile<M extends { readonly port: number; close(): Promise<void> }>(
  startMember: () => Promise<M>,
): H2cMemberGate<M> {
  let member: M | undefined;
  let sg: RunningShardgate | undefined;
  before(async () => {
    member = await startMember();
    sg = await startShardgate(
      poolConfig({
        members: [{ id: "m1", port: member.port }],
        accessLog: false,
        poolExtra: "    protocol: h2c",
      }),
    );
  });
  after(async () => {
    await stopAll();
    await member?.close();
  });
  return {
    get member() {
      return startedInHook(member, "the member");
    },
    get sg() {
      return startedInHook(sg, "shardgate");
    },
  };
}
