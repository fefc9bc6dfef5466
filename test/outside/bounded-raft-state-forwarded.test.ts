// The cluster state bound (maxStateBytes) for a proposal a follower forwards, with three real
// drivers over real TCP on loopback (a 256 KiB frame limit, so the bound is reached in a few
// proposals). The bound was checked only on the proposer, against its own view of the state;
// a follower whose view is stale (here: a view that stopped at the routing, before the state
// grew) passed its check, the leader appended the proposal unchecked, and every node applied a
// state past the bound (a snapshot that no longer fits one frame). Now the leader checks the
// forwarded proposal against its own state and appends its refusal instead: the follower's
// propose rejects with STATE_TOO_LARGE, no node applies anything, and the fleet still commits.

import assert from "node:assert/strict";
import { after, it } from "node:test";
import { DriverError } from "../../config/raft/driver/errors.js";
import type { StateMachine } from "../../config/raft/driver/options.js";
import type { RaftDriver } from "../../config/raft/driver.js";
import { encodeCommand } from "../../config/state/commands.js";
import { ClusterStateMachine } from "../../config/state/state-machine.js";
import type { ClusterStateData } from "../../config/state/types.js";
import { ROUTING_YAML, randomMembers, routingFrom, setRouting } from "../config/cluster-fixtures.js";
import { BoundedRaftTrio } from "../support/bounded-raft-trio.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SEED = testSeed(20_261_208);
const trio = new BoundedRaftTrio("raft-forwarded", SEED);
after(() => trio.stop());
const drivers = trio.drivers;

const STEP = 100;
const MAX_STEPS = 400;

const members = randomMembers;

const consulCount = (s: ClusterStateData): number =>
  s.pools.search?.members.filter((m) => m.source === "consul").length ?? 0;

/** A node's machine, and a second one its size checks read, which stops following once frozen. */
interface Node {
  real: ClusterStateMachine;
  freeze(): void;
}

it("a follower's stale view forwards a proposal past the bound: the leader refuses it with STATE_TOO_LARGE, nothing applied", {
  timeout: 240_000,
}, async () => {
  const note = seedNote(SEED);
  const random = seededRandom(SEED);
  const nodes = new Map<string, Node>();
  const leaderId = await trio.start((id) => {
    const real = new ClusterStateMachine({ onApply: () => {}, onRestore: () => {} });
    const view = new ClusterStateMachine({ onApply: () => {}, onRestore: () => {} });
    let frozen = false;
    const sm: StateMachine = {
      apply: (e) => {
        if (!frozen) view.apply(e);
        return real.apply(e);
      },
      snapshot: () => real.snapshot(),
      restore: (d) => {
        real.restore(d);
        if (!frozen) view.restore(d);
      },
      validate: (d) => real.validate(d),
      encodedBytesAfter: (c) => view.encodedBytesAfter(c),
      refusal: (m) => real.refusal(m),
      refusalIn: (c) => real.refusalIn(c),
    };
    nodes.set(id, { real, freeze: () => (frozen = true) });
    return sm;
  }, note);
  const ids = trio.ids;
  const leader = drivers.get(leaderId) as RaftDriver;
  const followerId = ids.find((id) => id !== leaderId) as string;
  const follower = drivers.get(followerId) as RaftDriver;
  const staleNode = nodes.get(followerId) as Node;
  const routed = await leader.propose(setRouting(routingFrom(ROUTING_YAML)));
  await waitFor(() => follower.status().appliedIndex >= routed, `${followerId} applied the routing`, 60_000);
  // From here the follower's size checks read the state as it was: a stale view.
  staleNode.freeze();

  let accepted = 0;
  let refusedLocally = false;
  for (let step = 1; step <= MAX_STEPS && !refusedLocally; step++) {
    const cmd = encodeCommand({
      v: 1,
      type: "SetMembers",
      pool: "search",
      source: "consul",
      members: members(step * STEP, random),
    });
    try {
      await leader.propose(cmd);
      accepted = step * STEP;
    } catch (err) {
      if (!(err instanceof DriverError) || err.code !== "STATE_TOO_LARGE") throw err;
      refusedLocally = true;
    }
  }
  assert.ok(
    refusedLocally && accepted > 0,
    `the leader's own bound refused a proposal after ${accepted} members (${note})`,
  );
  const grown = leader.status().appliedIndex;
  await waitFor(
    () => follower.status().appliedIndex >= grown,
    `${followerId} caught up with the growth`,
    60_000,
  );
  assert.equal(consulCount(staleNode.real.current), accepted);

  // The follower proposes what its stale view says fits (a routing with 200 more static members:
  // small beside the routing alone), but not beside the members the leader's state holds.
  const users = Array.from(
    { length: 2 * STEP },
    (_, i) => `      - { id: u${String(i).padStart(4, "0")}, address: "127.0.0.1:${10_000 + i}" }`,
  ).join("\n");
  const over = setRouting(
    routingFrom(ROUTING_YAML.replace(/ {2}users:\n {4}members:\n/, `  users:\n    members:\n${users}\n`)),
  );
  let refusal: unknown;
  try {
    const index = await follower.propose(over);
    refusal = `committed at ${index}`;
  } catch (err) {
    refusal = err;
  }
  assert.ok(
    refusal instanceof DriverError,
    `the forwarded proposal was not refused: ${String(refusal)} (${note})`,
  );
  assert.equal(refusal.code, "STATE_TOO_LARGE", `${refusal.message} (${note})`);
  assert.match(refusal.message, /on the leader, over the bound of \d+/);
  // Nothing applied, on any node: every machine still holds the last accepted members.
  const at = leader.status().appliedIndex;
  await waitFor(
    () => [...drivers.values()].every((d) => d.status().appliedIndex >= at),
    "every node applied the refusal",
    60_000,
  );
  for (const [id, n] of nodes) {
    assert.equal(consulCount(n.real.current), accepted, `${id} lost members (${note})`);
    assert.equal(
      n.real.current.pools.users?.members.length,
      3,
      `${id} applied the refused routing (${note})`,
    );
    // Every node's log names what it rejected (committed-changes.ts logs this message).
    const said = Array.from({ length: at }, (_, i) => n.real.rejectionAt(i + 1)).filter(
      (r) => r !== undefined,
    );
    assert.equal(said.length, 1, `${id}: ${JSON.stringify(said)}`);
    assert.match(said[0]?.message ?? "", /a proposal the leader refused, not applied: .*over the bound/);
  }

  // Nothing wedged: a change that keeps the size, proposed on the same follower, commits everywhere.
  await follower.propose(encodeCommand({ v: 1, type: "Drain", pool: "search", member: "m00000" }));
  await waitFor(
    () =>
      [...nodes.values()].every(
        (n) => n.real.current.pools.search?.members.find((x) => x.id === "m00000")?.draining === true,
      ),
    `every node applied the drain after the refusal (${note})`,
    60_000,
  );
});
