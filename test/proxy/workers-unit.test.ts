// The pieces of `workers: N` that need no process: the setting (schema and flag), how worker
// outcome batches merge into one observer's, and what a worker rebuilds per applied entry
// (the same decision as the primary's CommittedChanges).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import type { ClusterStateData, StateChange } from "../../config/state/cluster-state.js";
import type { OutcomeCounts } from "../../health/outcome-recorder.js";
import { rebuildFor } from "../../proxy/workers/primary-workers.js";
import { initMessage } from "../../proxy/workers/supervisor.js";
import { parseWorkersFlag, workerCount } from "../../proxy/workers/worker-count.js";
import { mergeOutcomeBatches, WorkerOutcomes } from "../../proxy/workers/worker-outcomes.js";
import { BARE } from "../config/fixtures.js";

function counts(o: Partial<OutcomeCounts> & { member: string }): OutcomeCounts {
  return {
    pool: "p",
    success: 0,
    failure: 0,
    consecutive: 0,
    maxConsecutive: 0,
    connectErrors: 0,
    resets: 0,
    timeouts: 0,
    ...o,
  };
}

describe("workers setting", () => {
  it("defaults to 1 and takes a whole number or auto; anything else is a path-named error", () => {
    const plain = parseConfig(BARE, {}, "t.yaml");
    assert.ok(plain.ok);
    assert.equal(plain.config.workers, 1);
    for (const [text, want] of [
      ["4", 4],
      ["auto", "auto"],
    ] as const) {
      const r = parseConfig(`${BARE}\nworkers: ${text}\n`, {}, "t.yaml");
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.config.workers, want);
    }
    for (const bad of ["0", "1.5", "-2", "many", "257"]) {
      const r = parseConfig(`${BARE}\nworkers: ${bad}\n`, {}, "t.yaml");
      assert.ok(!r.ok, `workers: ${bad} must be refused`);
      assert.ok(
        r.errors.some((e) => e.path === "workers"),
        `workers: ${bad}: ${JSON.stringify(r.errors)}`,
      );
    }
  });

  it("the flag parses as the field does; auto is at least one worker", () => {
    assert.equal(parseWorkersFlag("2"), 2);
    assert.equal(parseWorkersFlag("auto"), "auto");
    for (const bad of ["0", "02", "1.5", "", "257", "two"])
      assert.equal(parseWorkersFlag(bad), undefined, bad);
    assert.ok(workerCount("auto") >= 1);
    assert.equal(workerCount(3), 3);
  });
});

describe("worker outcomes", () => {
  it("merge per member: counts add up, failure runs take the longest", () => {
    const merged = mergeOutcomeBatches([
      {
        entries: [
          counts({ member: "a", success: 2, failure: 1, consecutive: 1, maxConsecutive: 1, resets: 1 }),
        ],
      },
      {
        entries: [
          counts({
            member: "a",
            success: 1,
            failure: 3,
            consecutive: 3,
            maxConsecutive: 3,
            connectErrors: 3,
          }),
          counts({ member: "b", success: 5 }),
        ],
      },
    ]);
    const byMember = new Map(merged.entries.map((e) => [e.member, e]));
    assert.deepEqual(byMember.get("a"), {
      pool: "p",
      member: "a",
      success: 3,
      failure: 4,
      consecutive: 3,
      maxConsecutive: 3,
      connectErrors: 3,
      resets: 1,
      timeouts: 0,
    });
    assert.equal(byMember.get("b")?.success, 5);
    assert.equal(merged.entries.length, 2);
  });

  it("the primary's tracker hands the node every worker batch once, merged", () => {
    const t = new WorkerOutcomes();
    assert.deepEqual(t.drain().entries, []);
    t.add({ entries: [counts({ member: "a", failure: 1, consecutive: 1, maxConsecutive: 1 })] });
    t.add({ entries: [counts({ member: "a", failure: 2, consecutive: 2, maxConsecutive: 2 })] });
    const first = t.drain();
    assert.equal(first.entries.length, 1);
    assert.equal(first.entries[0].failure, 3);
    assert.deepEqual(t.drain().entries, [], "a batch is delivered once");
  });
});

describe("what a worker rebuilds per applied entry", () => {
  const state = { routing: { pools: {}, routes: [] } } as unknown as ClusterStateData;
  const change = (o: Partial<StateChange>): StateChange =>
    ({ applied: true, poolsChanged: [], removedPools: [], routesChanged: false, ...o }) as StateChange;

  it("everything after a snapshot restore; nothing for a rejected or unrouted entry; else the touched pools", () => {
    assert.deepEqual(rebuildFor(null, state, state), { pools: "all", routesChanged: true });
    assert.equal(rebuildFor(change({ applied: false, poolsChanged: ["p"] }), state, state), null);
    assert.equal(rebuildFor(change({}), state, state), null);
    assert.deepEqual(rebuildFor(change({ poolsChanged: ["p"] }), state, state), {
      pools: ["p"],
      routesChanged: false,
    });
    const after = { routing: { pools: {}, routes: [] } } as unknown as ClusterStateData;
    assert.deepEqual(rebuildFor(change({}), state, after), { pools: [], routesChanged: false });
  });

  it("nothing for a state without routing, restored or applied: the worker keeps routing on its file", () => {
    const bare = { routing: null } as unknown as ClusterStateData;
    assert.equal(rebuildFor(null, bare, bare), null);
    assert.equal(rebuildFor(change({ poolsChanged: ["p"], routesChanged: true }), bare, bare), null);
  });
});

describe("a worker's init message", () => {
  // 10,000 members: the size at which the start file's routing made the message ~700 KB.
  const MEMBERS = 10_000;
  const lines = Array.from(
    { length: MEMBERS },
    (_, i) => `      - { id: m${i}, address: "10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:8080" }`,
  );
  const text = `pools:\n  p:\n    members:\n${lines.join("\n")}\nroutes:\n  - pool: p\n    key: [ip]\n`;
  const parsed = parseConfig(text, {}, "t.yaml");
  assert.ok(parsed.ok, JSON.stringify(parsed).slice(0, 500));
  const { pools, routes, ...config } = parsed.config;
  const base = {
    worker: 0,
    workers: 2,
    config,
    secret: "s",
    nodeId: "n",
    drainTimeoutMs: 1000,
    primaryReserve: 0,
    primaryFloor: 0,
  };
  // node:cluster sends IPC messages as JSON (the supervisor sets no other serialization).
  const size = (m: unknown): number => Buffer.byteLength(JSON.stringify(m));

  it("leaves the start file's pools and routes out once routing is committed (the state replaces them)", () => {
    const committed = { routing: { pools: {}, routes: [] } } as unknown as ClusterStateData;
    const m = initMessage(base, { pools, routes }, committed);
    assert.equal(m.provisional, undefined);
    assert.equal("pools" in m.config, false);
    assert.equal("routes" in m.config, false);
    const bytes = size(m);
    const withRouting = size({ ...m, config: parsed.config });
    assert.ok(bytes < 20_000, `init message of ${bytes} bytes at ${MEMBERS} members`);
    console.log(
      `init message at ${MEMBERS} members: ${bytes} bytes (with the file's routing: ${withRouting})`,
    );
  });

  it("carries them while nothing is committed: the worker routes on them provisionally", () => {
    for (const committed of [null, { routing: null } as unknown as ClusterStateData]) {
      const m = initMessage(base, { pools, routes }, committed);
      assert.deepEqual(m.provisional, { pools, routes });
    }
  });
});
