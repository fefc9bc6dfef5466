// The cluster state bound after a leader change: a new leader's log may hold entries of the old
// leader's term it has not applied (it learns they are committed only once it commits an entry of
// its own term). They will be applied before anything it appends, so they count against the bound
// like its own proposals in flight. Before, the new leader's count started empty and checked a
// proposal against its applied state only: two SetMembers, each ~60% of the room under the bound,
// one appended by the old leader and one proposed to the new leader before the first was applied,
// both applied: the state crossed the bound (a snapshot that no longer fits a transport frame).
// Three real drivers over loopback TCP with the cluster state machine and a 256 KiB frame limit.
// Schedule: the leader L is cut from F2; it appends E (p0, ~60%); F1 appends it and its ack is
// dropped while F1 cuts L (so nobody commits E); F1 and F2 elect F1 (its log is longer); F1
// is proposed P (p1, ~60%) the turn after it becomes leader, before its first entry commits.
import assert from "node:assert/strict";
import { after, it } from "node:test";
import { decodeMessages } from "../../config/raft/core/index.js";
import { DriverError } from "../../config/raft/driver/errors.js";
import { defaultMaxStateBytes } from "../../config/raft/driver/options.js";
import type { RaftDriver } from "../../config/raft/driver.js";
import type { ClusterStateMachine } from "../../config/state/state-machine.js";
import {
  consulMembers,
  consulPoolsRouting,
  randomMembers,
  routingFrom,
  setRouting,
} from "../config/cluster-fixtures.js";
import { BoundedRaftTrio, FRAME } from "../support/bounded-raft-trio.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const trio = new BoundedRaftTrio("raft-bound-lead", SEED);
after(() => trio.stop());
const drivers = trio.drivers;
const ROUTING = consulPoolsRouting(["p0", "p1"]);

const members = (pool: string, n: number, random: () => number) => randomMembers(n, random, `${pool}-`);
const setMembers = consulMembers;

it("a new leader counts the old term's unapplied entries against the state bound", {
  timeout: 240_000,
}, async () => {
  const note = seedNote(SEED);
  const random = seededRandom(SEED);
  const { leaderId: lId, machines } = await trio.startWithClusterMachines(note);
  const ids = trio.ids;
  const all = [...drivers.values()];
  const [f1Id, f2Id] = ids.filter((id) => id !== lId);
  const l = drivers.get(lId) as RaftDriver;
  const f1 = drivers.get(f1Id) as RaftDriver;
  const lSm = machines.get(lId) as ClusterStateMachine;
  await l.propose(setRouting(routingFrom(ROUTING)));
  await waitFor(
    () => [...machines.values()].every((m) => m.current.pools.p1 !== undefined),
    `every node has both pools (${note})`,
    60_000,
  );

  const bound = defaultMaxStateBytes(FRAME);
  const base = lSm.snapshot().length;
  const perMember = ((lSm.encodedBytesAfter(setMembers("p0", members("p0", 100, random))) ?? 0) - base) / 100;
  assert.ok(perMember > 0, `a member's size in the state (${note})`);
  const n = Math.floor((0.6 * (bound - base)) / perMember);
  const e = setMembers("p0", members("p0", n, random));
  const p = setMembers("p1", members("p1", n, random));
  for (const cmd of [e, p]) {
    const alone = lSm.encodedBytesAfter(cmd) ?? Number.POSITIVE_INFINITY;
    assert.ok(alone <= bound, `each proposal fits alone (${alone} <= ${bound}) (${note})`);
  }

  // F1's ack of E is dropped and F1 cuts L: E stays uncommitted everywhere.
  const eIndex = l.status().lastIndex + 1;
  const f1t = f1.transport;
  const f1send = f1t.send.bind(f1t);
  f1t.send = (to, payload, onUnsent, onLost) => {
    if (to === lId) {
      let acksE = false;
      try {
        acksE = decodeMessages(payload).some((m) => m.type === "appResp" && !m.reject && m.index >= eIndex);
      } catch {}
      if (acksE) {
        f1t.cut(lId);
        return false;
      }
    }
    return f1send(to, payload, onUnsent, onLost);
  };
  // P goes to F1 the turn after it leads (its first entry needs F2's answer to commit).
  let pResult: Promise<unknown> | undefined;
  let appliedAtLead = -1;
  f1.on("roleChange", (role: string) => {
    if (role !== "leader" || pResult !== undefined) return;
    setImmediate(() => {
      appliedAtLead = f1.status().appliedIndex;
      pResult = f1.propose(p).then(
        () => "accepted",
        (err: unknown) => err,
      );
    });
  });
  l.transport.cut(f2Id);
  const eResult = l.propose(e).catch((err: unknown) => err);
  await waitFor(() => pResult !== undefined, `${f1Id} leads and is proposed P (${note})`, 60_000);
  assert.ok(
    appliedAtLead < eIndex,
    `${f1Id} had not applied E (${eIndex}) when P came: ${appliedAtLead} (${note})`,
  );
  const outcome = await pResult;
  f1t.heal(lId);
  l.transport.heal(f2Id);
  await waitFor(
    () => all.every((d) => d.status().appliedIndex >= f1.status().commitIndex),
    `every node applied ${f1Id}'s log (${note})`,
    60_000,
  );
  void eResult;
  for (const [id, sm] of machines) {
    const size = sm.snapshot().length;
    assert.ok(
      size <= bound,
      `${id}'s state is ${size} bytes, over the bound ${bound} (P on the new leader: ${outcome instanceof Error ? outcome.message : String(outcome)}) (${note})`,
    );
  }
  assert.ok(outcome instanceof DriverError, `P was not refused: ${String(outcome)} (${note})`);
  assert.equal((outcome as DriverError).code, "STATE_TOO_LARGE", `${String(outcome)} (${note})`);
});
