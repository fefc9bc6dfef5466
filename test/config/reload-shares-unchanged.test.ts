// A reload that changes one pool keeps everything else of the committed routing by identity
// (no second copy, no re-freeze, readers compare by identity), while the state it describes
// is the one a fresh replica builds from the same commands, byte for byte.

import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalEqual, canonicalJson } from "../../config/state/canonical-json.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";
import { ROUTING_YAML, routingFrom, setRouting } from "./cluster-fixtures.js";

const routing = routingFrom(ROUTING_YAML);

function withExtraUser(): ReturnType<typeof routingFrom> {
  return routingFrom(
    ROUTING_YAML.replace(
      `      - { id: u3, address: "127.0.0.1:9103" }\n`,
      `      - { id: u3, address: "127.0.0.1:9103" }\n      - { id: u4, address: "127.0.0.1:9104" }\n`,
    ),
  );
}

test("a SetRouting that adds one member keeps the other pool's config and the routes by identity", () => {
  const s = new ClusterState();
  assert.ok(s.apply(1, setRouting(routing)).applied);
  const before = s.current.routing;
  assert.ok(before !== null);
  const membersBefore = s.current.pools.users.members;
  const c = s.apply(2, setRouting(withExtraUser()));
  assert.ok(c.applied, c.error);
  assert.deepEqual(c.ringChanged, ["users"]);
  const after = s.current.routing;
  assert.ok(after !== null && after !== before);
  assert.equal(after.pools.search, before.pools.search, "unchanged pool config is the previous object");
  assert.equal(after.routes, before.routes, "unchanged routes are the previous array");
  assert.notEqual(after.pools.users, before.pools.users);
  assert.equal(after.pools.users.members.length, 4);
  // Members that stay as they were are the previous (frozen) objects, not rebuilt copies.
  const membersAfter = s.current.pools.users.members;
  for (const m of membersBefore)
    assert.equal(
      membersAfter.find((x) => x.id === m.id),
      m,
      `member ${m.id} kept by identity`,
    );
  // The same bytes as a replica that only ever saw the second command's routing plus history.
  const fresh = new ClusterState();
  fresh.apply(1, setRouting(routing));
  fresh.apply(2, setRouting(withExtraUser()));
  assert.deepEqual(s.snapshot(), fresh.snapshot());
  // An identical reload keeps the whole routing object.
  assert.ok(s.apply(3, setRouting(withExtraUser())).applied);
  assert.equal(s.current.routing, after);
});

test("canonicalEqual agrees with comparing canonical JSON strings", () => {
  const seed = testSeed(16016);
  const rand = seededRandom(seed);
  const leaf = () => pick<unknown>(rand, [0, 1, -3.5, "a", "b", "", true, false, null, undefined]);
  const gen = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.35) return leaf() ?? null;
    if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => gen(depth + 1));
    const o: Record<string, unknown> = {};
    for (const k of ["x", "y", "z", "w"])
      if (rand() < 0.5) o[k] = depth > 0 && rand() < 0.2 ? undefined : gen(depth + 1);
    return o;
  };
  let equalPairs = 0;
  for (let i = 0; i < 3000; i++) {
    const a = gen(0);
    // Half the pairs: a structural copy with keys reversed (equal), sometimes one leaf changed.
    const b = rand() < 0.5 ? gen(0) : reorder(a, rand);
    const expected = canonicalJson(a) === canonicalJson(b);
    if (expected) equalPairs++;
    assert.equal(
      canonicalEqual(a, b),
      expected,
      `seed ${seed} pair ${i}: ${canonicalJson(a)} vs ${canonicalJson(b)}`,
    );
  }
  assert.ok(equalPairs > 500, `seed ${seed}: the generator made too few equal pairs (${equalPairs})`);
});

/** A deep copy with object keys in reverse order; one leaf in ten becomes different. */
function reorder(v: unknown, rand: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => reorder(x, rand));
  if (v !== null && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).reverse()) o[k] = reorder((v as Record<string, unknown>)[k], rand);
    return o;
  }
  return rand() < 0.1 ? "changed" : v;
}
