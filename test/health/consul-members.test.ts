// Unit tests for turning /v1/health/service entries into members and diffing views.

import assert from "node:assert/strict";
import { test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { memberSchema } from "../../config/file/schema.js";
import {
  type DiscoveredMember,
  diffMembers,
  type EntryMemo,
  isEmptyDiff,
  parseHealthEntries,
} from "../../health/consul-members.js";
import { seededRandom } from "../../ring/random.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(4242);

function entry(
  id: string,
  o: {
    addr?: string;
    node?: string;
    nodeAddr?: string;
    port?: number;
    passing?: unknown;
    checks?: string[];
  } = {},
) {
  return {
    Node: { Node: o.node ?? "n1", Address: o.nodeAddr ?? "10.9.9.9" },
    Service: {
      ID: id,
      Service: "s",
      Address: o.addr ?? "",
      Port: o.port ?? 80,
      Tags: ["t"],
      Meta: { k: "v" },
      Weights: { Passing: o.passing, Warning: 1 },
    },
    Checks: (o.checks ?? ["passing"]).map((s, i) => ({ CheckID: `c${i}`, Status: s })),
  };
}

test("address falls back to Node.Address; weight is Weights.Passing or 1", () => {
  const { members } = parseHealthEntries(
    [entry("a", { addr: "10.0.0.1", passing: 5 }), entry("b", { passing: 0 }), entry("c", { passing: 2.5 })],
    true,
  );
  assert.equal(members.get("a")?.address, "10.0.0.1");
  assert.equal(members.get("a")?.weight, 5);
  assert.equal(members.get("b")?.address, "10.9.9.9");
  assert.equal(members.get("b")?.weight, 1, "0 -> 1");
  assert.equal(members.get("c")?.weight, 1, "non-integer -> 1");
  assert.deepEqual([...members.keys()], ["a", "b", "c"], "sorted by id");
});

test("health is the worst check; warning is healthy only when allowed; no checks is passing", () => {
  const body = [
    entry("w", { checks: ["passing", "warning"] }),
    entry("c", { checks: ["warning", "critical"] }),
    entry("n", { checks: [] }),
    entry("m", { checks: ["maintenance"] }),
  ];
  const lenient = parseHealthEntries(body, true).members;
  const strict = parseHealthEntries(body, false).members;
  assert.equal(lenient.get("w")?.status, "warning");
  assert.equal(lenient.get("w")?.healthy, true);
  assert.equal(strict.get("w")?.healthy, false);
  assert.equal(lenient.get("c")?.healthy, false);
  assert.equal(lenient.get("n")?.healthy, true);
  assert.equal(lenient.get("m")?.status, "critical", "unknown statuses fail safe");
});

test("the same Service.ID on two nodes is qualified by node, whatever the order", () => {
  const a = parseHealthEntries([entry("web", { node: "n1" }), entry("web", { node: "n2" })], true);
  const b = parseHealthEntries([entry("web", { node: "n2" }), entry("web", { node: "n1" })], true);
  assert.deepEqual([...a.members.keys()], ["n1:web", "n2:web"]);
  assert.deepEqual([...b.members.keys()], [...a.members.keys()]);
  assert.ok(a.warnings.length > 0);
  // The qualified ids must be member ids the cluster accepts (membership-plan checks each with
  // the member schema): "n1/web" was refused there, so both instances were skipped.
  for (const m of a.members.values()) {
    const r = memberSchema.safeParse({ id: m.id, address: `${m.address}:${m.port}` });
    assert.ok(r.success, `${m.id}: ${JSON.stringify(r.error?.issues)}`);
  }
});

test("malformed entries are skipped with a warning; a non-array throws a clear error", () => {
  const r = parseHealthEntries([null, { Service: {} }, entry("ok"), entry("badport", { port: 70000 })], true);
  assert.deepEqual([...r.members.keys()], ["ok"]);
  assert.equal(r.warnings.length, 3);
  assert.throws(() => parseHealthEntries({}, true), /expected a JSON array/);
});

test("diff reports added, removed, changed and health flips", () => {
  const before = parseHealthEntries([entry("a"), entry("b"), entry("c", { port: 1 })], true).members;
  const after = parseHealthEntries(
    [entry("b", { checks: ["critical"] }), entry("c", { port: 2 }), entry("d")],
    true,
  ).members;
  const d = diffMembers(before, after);
  assert.deepEqual(
    d.added.map((m) => m.id),
    ["d"],
  );
  assert.deepEqual(
    d.removed.map((m) => m.id),
    ["a"],
  );
  assert.deepEqual(
    d.changed.map((c) => [c.before.port, c.after.port]),
    [[1, 2]],
  );
  assert.deepEqual(
    d.health.map((h) => [h.member.id, h.wasHealthy, h.member.healthy]),
    [["b", true, false]],
  );
  assert.equal(isEmptyDiff(diffMembers(after, after)), true);
});

test("a re-read view keeps the objects of unchanged members and renews only the changed one", () => {
  const body = (critical: string) =>
    Array.from({ length: 50 }, (_, i) =>
      entry(`m${i}`, {
        addr: "10.0.0.1",
        port: 1000 + i,
        checks: [`m${i}` === critical ? "critical" : "passing"],
      }),
    );
  const first = parseHealthEntries(body(""), true).members;
  const second = parseHealthEntries(body("m7"), true, first).members;
  for (const [id, m] of second) {
    if (id === "m7") {
      assert.notEqual(m, first.get(id), "the changed member is a new object");
      assert.equal(m.healthy, false);
      assert.equal(first.get(id)?.healthy, true, "the old view is untouched");
    } else assert.equal(m, first.get(id), `${id} is the same object`);
  }
  // A change in shape (port, tags, meta, weight) also renews the member.
  const moved = body("m7");
  moved[3] = entry("m3", { addr: "10.0.0.1", port: 9 });
  const third = parseHealthEntries(moved, true, second).members;
  assert.notEqual(third.get("m3"), second.get("m3"));
  assert.equal(third.get("m3")?.port, 9);
  assert.equal(third.get("m4"), second.get("m4"));
  assert.deepEqual(
    diffMembers(second, third).changed.map((c) => c.after.id),
    ["m3"],
  );
});

test("with the entry memo and the last view, a re-read equals a fresh parse over random answer sequences", () => {
  const r = seededRandom(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  /** A random entry: some malformed, some colliding ids across nodes, statuses, weights, ports. */
  const randomEntry = (): unknown => {
    const k = r();
    if (k < 0.05)
      return pick([null, 7, "x", { Service: {} }, { Node: {}, Service: { ID: "p", Port: 70000 } }]);
    return entry(`m${Math.floor(r() * 40)}`, {
      node: pick(["n1", "n1", "n1", "n2"]),
      addr: pick(["", "10.0.0.1", "10.0.0.2"]),
      port: pick([80, 81, 65536]),
      passing: pick([undefined, 1, 3, 0]),
      checks: Array.from({ length: Math.floor(r() * 3) }, () =>
        pick(["passing", "warning", "critical", "maint"]),
      ),
    });
  };
  for (let round = 0; round < 40; round++) {
    const why = `seed ${SEED} round ${round}`;
    const warningIsHealthy = r() < 0.5;
    const memo: EntryMemo = new WeakMap();
    // Unchanged entries stay the same objects between answers, as the answer cache hands them back.
    let body: unknown[] = Array.from({ length: Math.floor(r() * 30) }, randomEntry);
    let prev: ReadonlyMap<string, DiscoveredMember> | undefined;
    for (let step = 0; step < 8; step++) {
      const got = parseHealthEntries(body, warningIsHealthy, prev, memo);
      const fresh = parseHealthEntries(structuredClone(body), warningIsHealthy);
      assert.deepEqual([...got.members.entries()], [...fresh.members.entries()], `${why} step ${step}`);
      assert.deepEqual(got.warnings, fresh.warnings, `${why} step ${step}`);
      assert.ok([...got.members.values()].every(Object.isFrozen), `${why}: members are frozen`);
      if (prev !== undefined) {
        for (const [id, m] of got.members) {
          const old = prev.get(id);
          // An equal member keeps its object; a different one never does.
          if (old !== undefined)
            assert.equal(old === m, isDeepStrictEqual(old, m), `${why} step ${step} ${id}`);
        }
      }
      prev = got.members;
      body = [...body];
      for (let n = Math.floor(r() * 3); n > 0; n--) {
        const op = Math.floor(r() * 3);
        const at = Math.floor(r() * (body.length + 1));
        if (op === 0 && at < body.length) body[at] = randomEntry();
        else if (op === 1) body.splice(at, 0, randomEntry());
        else body.splice(at, 1);
      }
    }
  }
});
