// A reload's PatchRouting (the few members that changed) leaves the cluster state exactly as
// the SetRouting of the same file would: over seeded random sequences of reloads (members
// added, removed, moved, reweighted, settings and routes changed, mixed with drains and
// Consul members), one replica applies the full SetRouting and another the patch computed
// from its committed routing, and their snapshots agree byte for byte after every step.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { MemberConfig, RoutingConfig } from "../../config/file/schema.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import type { CommandInput } from "../../config/state/commands.js";
import { membersDigest, routingDigest, splicedDigest } from "../../config/state/routing-digest.js";
import { routingPatch } from "../../config/state/routing-patch.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";
import { consulSearchMembers, enc, ROUTING_YAML, routingFrom, setRouting } from "./cluster-fixtures.js";

const base = routingFrom(ROUTING_YAML);

function member(id: string, port: number, weight = 1): MemberConfig {
  return { id, address: { host: "127.0.0.1", port }, weight } as MemberConfig;
}

/** A copy of `r` (as a freshly loaded file would be: no object shared with the state). */
function copy(r: RoutingConfig): RoutingConfig {
  return JSON.parse(JSON.stringify(r)) as RoutingConfig;
}

/** One random edit of a file's routing, as an operator's reload would make it. */
function mutate(r: RoutingConfig, rand: () => number, fresh: () => number): RoutingConfig {
  const next = copy(r);
  const pool = next.pools[pick(rand, ["users", "users", "users", "search"])];
  const ms = pool.members;
  const kind = pick(rand, [
    "add",
    "add",
    "remove",
    "reweight",
    "move",
    "readdress",
    "many",
    "settings",
    "routes",
    "none",
  ]);
  const at = Math.floor(rand() * (ms.length + 1));
  if (kind === "add") {
    const n = fresh();
    ms.splice(at, 0, member(`n${n}`, 10_000 + n, 1 + Math.floor(rand() * 3)));
  } else if (kind === "remove" && ms.length > 1) ms.splice(Math.min(at, ms.length - 1), 1);
  else if (kind === "reweight" && ms.length > 0) {
    const i = Math.min(at, ms.length - 1);
    ms[i] = { ...ms[i], weight: ms[i].weight + 1 };
  } else if (kind === "move" && ms.length > 1) {
    const [m] = ms.splice(Math.min(at, ms.length - 1), 1);
    ms.splice(Math.floor(rand() * (ms.length + 1)), 0, m);
  } else if (kind === "readdress" && ms.length > 0) {
    const i = Math.min(at, ms.length - 1);
    ms[i] = { ...ms[i], address: { host: "127.0.0.1", port: 20_000 + fresh() } };
  } else if (kind === "many") {
    for (let k = 0; k < 40; k++) ms.push(member(`b${fresh()}`, 30_000 + k));
  } else if (kind === "settings") {
    pool.pointsPerWeight = pool.pointsPerWeight === 160 ? 100 : 160;
  } else if (kind === "routes") {
    next.routes = [...next.routes].reverse();
  }
  return next;
}

test("a PatchRouting leaves the state a SetRouting of the same file leaves, byte for byte (seeded)", () => {
  const seed = testSeed(16_005);
  const rand = seededRandom(seed);
  let counter = 0;
  const fresh = () => ++counter;
  let patches = 0;
  let fulls = 0;
  for (let run = 0; run < 12; run++) {
    const full = new ClusterState();
    const patched = new ClusterState();
    let index = 1;
    let file = copy(base);
    // A bigger users pool, so a one-member change is well under the patch threshold.
    for (let k = 0; k < 60; k++) file.pools.users.members.push(member(`u-big-${k}`, 11_000 + k));
    const both = (bytes: Uint8Array, other?: Uint8Array) => {
      const a = full.apply(index, bytes);
      const b = patched.apply(index, other ?? bytes);
      index++;
      assert.equal(
        a.applied,
        b.applied,
        `seed ${seed} run ${run} index ${index - 1}: ${a.error} / ${b.error}`,
      );
      assert.deepEqual(
        Buffer.from(patched.snapshot()).toString(),
        Buffer.from(full.snapshot()).toString(),
        `seed ${seed} run ${run}: state after index ${index - 1} differs`,
      );
      return b;
    };
    both(setRouting(file));
    for (let step = 0; step < 40; step++) {
      const r = rand();
      if (r < 0.1) {
        const committed = full.current.pools.users.members;
        if (committed.length > 0) {
          const m = pick(rand, committed).id;
          both(enc({ v: 1, type: rand() < 0.5 ? "Drain" : "Undrain", pool: "users", member: m }));
        }
        continue;
      }
      if (r < 0.15) {
        both(consulSearchMembers([{ id: `c${fresh()}`, address: "127.0.0.1:9301" }]));
        continue;
      }
      file = mutate(file, rand, fresh);
      const committed = patched.current.routing;
      assert.ok(committed !== null);
      const patch = routingPatch(committed, file);
      if (patch === null) fulls++;
      else patches++;
      const change = both(setRouting(file), patch === null ? undefined : enc(patch));
      assert.ok(change.applied, `seed ${seed} run ${run}: ${change.error}`);
    }
  }
  // Both paths were exercised (the mutations include settings and route changes, and bulk adds).
  assert.ok(patches > 100 && fulls > 20, `seed ${seed}: ${patches} patches, ${fulls} full`);
});

test("a patch adding one member to a 5,000-member pool is small and keeps its splice only", () => {
  const file = copy(base);
  for (let k = 0; k < 5000; k++) file.pools.users.members.push(member(`m${k}`, 12_000 + (k % 4)));
  const s = new ClusterState();
  assert.ok(s.apply(1, setRouting(file)).applied);
  const next = copy(file);
  next.pools.users.members.push(member("m5000", 12_000));
  const committed = s.current.routing;
  assert.ok(committed !== null);
  const patch = routingPatch(committed, next);
  assert.ok(patch !== null && patch.type === "PatchRouting");
  const bytes = enc(patch);
  assert.ok(bytes.byteLength < 512, `patch is ${bytes.byteLength} bytes`);
  assert.deepEqual(patch.pools, {
    users: { edits: [{ at: 5003, remove: 0, add: [member("m5000", 12_000)] }] },
  });
  const c = s.apply(2, bytes);
  assert.ok(c.applied, c.error);
  assert.deepEqual(c.ringChanged, ["users"]);
  assert.equal(s.current.pools.users.members.length, 5004);
});

test("a patch whose base is not the committed routing is refused (routing_changed), state unchanged", () => {
  const s = new ClusterState();
  assert.ok(s.apply(1, setRouting(base)).applied);
  const committed = s.current.routing;
  assert.ok(committed !== null);
  const next = copy(base);
  next.pools.users.members.push(member("u9", 9109));
  const patch = routingPatch(committed, next);
  assert.ok(patch !== null);
  // Another reload commits first.
  const other = copy(base);
  other.pools.users.members.splice(0, 1);
  assert.ok(s.apply(2, setRouting(other)).applied);
  const before = s.snapshot();
  const c = s.apply(3, enc(patch));
  assert.equal(c.applied, false);
  assert.equal(c.code, "routing_changed");
  assert.deepEqual(JSON.parse(Buffer.from(s.snapshot()).toString()), {
    ...JSON.parse(Buffer.from(before).toString()),
    appliedIndex: 3,
  });
  // On a state that never had a routing there is nothing to patch.
  const empty = new ClusterState();
  assert.equal(empty.apply(1, enc(patch)).code, "routing_changed");
});

test("a patch from the log that would break the routing is refused, not applied", () => {
  const s = new ClusterState();
  assert.ok(s.apply(1, setRouting(base)).applied);
  const committed = s.current.routing;
  assert.ok(committed !== null);
  const digest = routingDigest(committed);
  const bad: CommandInput[] = [
    // A duplicate id (u1 stays in the list).
    {
      v: 1,
      type: "PatchRouting",
      base: digest,
      pools: { users: { edits: [{ at: 3, remove: 0, add: [member("u1", 9)] }] } },
    },
    // The same new id twice in one splice.
    {
      v: 1,
      type: "PatchRouting",
      base: digest,
      pools: { users: { edits: [{ at: 3, remove: 0, add: [member("u9", 9), member("u9", 10)] }] } },
    },
    // A splice past the end.
    {
      v: 1,
      type: "PatchRouting",
      base: digest,
      pools: { users: { edits: [{ at: 2, remove: 5, add: [] }] } },
    },
    // A pool the routing does not have.
    { v: 1, type: "PatchRouting", base: digest, pools: { nope: { edits: [{ at: 0, remove: 0, add: [] }] } } },
    // Every member of a pool without discovery.
    {
      v: 1,
      type: "PatchRouting",
      base: digest,
      pools: { users: { edits: [{ at: 0, remove: 3, add: [] }] } },
    },
  ];
  let index = 2;
  for (const cmd of bad) {
    const c = s.apply(index++, enc(cmd));
    assert.equal(c.applied, false, JSON.stringify(cmd));
    assert.equal(c.code, "invalid_command", `${JSON.stringify(cmd)}: ${c.error}`);
    assert.equal(s.current.routing, committed, "routing untouched");
  }
  // An id that the same splice removes may come back (a member's address changed in place).
  const moved = s.apply(
    index++,
    enc({
      v: 1,
      type: "PatchRouting",
      base: digest,
      pools: { users: { edits: [{ at: 0, remove: 1, add: [member("u1", 9)] }] } },
    }),
  );
  assert.equal(moved.applied, true, moved.error);
  // A malformed member is refused by the command schema.
  const c = s.apply(
    index,
    enc({
      v: 1,
      type: "PatchRouting",
      base: digest,
      pools: { users: { edits: [{ at: 0, remove: 0, add: [{ id: "", address: "x" }] }] } },
    } as unknown as CommandInput),
  );
  assert.equal(c.code, "invalid_command");
});

test("the digest of a spliced list equals the digest of the list computed afresh (seeded)", () => {
  const seed = testSeed(16_006);
  const rand = seededRandom(seed);
  let list: MemberConfig[] = [];
  for (let k = 0; k < 50; k++) list.push(member(`d${k}`, 1000 + k));
  let d = membersDigest(list);
  for (let step = 0; step < 300; step++) {
    const at = Math.floor(rand() * (list.length + 1));
    const remove = Math.floor(rand() * Math.min(4, list.length - at + 1));
    const add: MemberConfig[] = [];
    for (let k = Math.floor(rand() * 4); k > 0; k--) add.push(member(`e${step}-${k}`, 2000 + step));
    d = splicedDigest(d, list, at, remove, add);
    const next = list.slice();
    next.splice(at, remove, ...add);
    list = next;
    assert.equal(d, membersDigest(list.slice()), `seed ${seed} step ${step}`);
  }
  // Order is part of the digest.
  const a = [member("x", 1), member("y", 2)];
  assert.notEqual(membersDigest(a), membersDigest([a[1], a[0]]));
});
