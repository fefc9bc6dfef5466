// A child process for test/outside/bounded-id-index.test.ts: builds a pool's snapshots the way
// reloads do, then holds only the last one and waits (its heap is read over the inspector).
//   S0: 100 members at addresses of class OldAddress;
//   S1: one member joins (the id index is built after the join: IdIndex.after);
//   S2: same ids and weights (the same table: S1's id index is passed on), every member at a
//       new address of class NewAddress, so every member object is new.
// With S0 and S1 dropped, no OldAddress should stay reachable: only S1's member objects held them.

import { configSchema } from "../../config/file/schema.js";
import { IdIndex } from "../../proxy/routing/id-index.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, PoolSnapshot } from "../../proxy/routing/types.js";

class OldAddress {
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    Object.freeze(this);
  }
}

class NewAddress {
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    Object.freeze(this);
  }
}

const settings = configSchema.parse({
  pools: { p: { members: [], algorithm: "ring" } },
  routes: [{ pool: "p", key: ["ip"] }],
}).pools.p;

function members(n: number, address: (i: number) => MemberInput["address"]): MemberInput[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `m${String(i).padStart(3, "0")}`,
    address: address(i),
    weight: 1,
  }));
}

function build(): PoolSnapshot {
  const s0 = buildPoolSnapshot({
    name: "p",
    settings,
    ringVersion: 1,
    members: members(100, (i) => new OldAddress("127.0.0.1", 2000 + i)),
  });
  const s1 = updatePoolSnapshot(s0, {
    name: "p",
    settings,
    ringVersion: 2,
    members: members(101, (i) => (i < 100 ? s0.members[i].address : new OldAddress("127.0.0.1", 3000))),
  });
  if (!(s1.byId instanceof IdIndex)) throw new Error("the join did not build an IdIndex");
  const s2 = updatePoolSnapshot(s1, {
    name: "p",
    settings,
    ringVersion: 3,
    members: members(101, (i) => new NewAddress("127.0.0.2", 4000 + i)),
  });
  if (s2.byId !== s1.byId) throw new Error("the same table did not pass the id index on");
  if (s2.byId.get("m100") !== 100) throw new Error("the index lost a member");
  return s2;
}

(globalThis as { held?: PoolSnapshot }).held = build();
process.stdout.write("built\n");
setInterval(() => {}, 60_000);
