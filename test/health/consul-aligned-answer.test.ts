// The watcher's short path for an answer whose entries are the last ones in place but a few
// (health/consul-aligned-answer.ts) against the full parse and diff it stands in for, over
// seeded answer sequences: in-place changes (health, output, address, weight), added and
// removed instances, id collisions across nodes and malformed entries.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type AlignedAnswer, alignedAnswer, parseAligned } from "../../health/consul-aligned-answer.js";
import {
  type DiscoveredMember,
  diffMembers,
  type EntryMemo,
  parseHealthEntries,
} from "../../health/consul-members.js";
import { seededRandom, testSeed } from "../support/prng.js";

const SEED = testSeed(20261205);

function entry(r: () => number, id: string): object {
  const status = r() < 0.7 ? "passing" : r() < 0.5 ? "warning" : "critical";
  return {
    Node: { Node: r() < 0.95 ? "n1" : "n2", Address: "10.0.0.1" },
    Service: {
      ID: id,
      Address: r() < 0.9 ? "" : "10.0.0.9",
      Port: r() < 0.98 ? 8080 : -1,
      Weights: { Passing: r() < 0.9 ? 1 : 3 },
      Tags: [],
      Meta: {},
    },
    Checks: [{ Status: status, Output: `${Math.floor(r() * 4)}` }],
  };
}

test("the aligned short path gives the full parse's view, identities and diff", () => {
  for (const warningIsHealthy of [false, true]) {
    const r = seededRandom(SEED + (warningIsHealthy ? 1 : 0));
    const memo: EntryMemo = new WeakMap();
    let body: object[] = [];
    for (let i = 0; i < 30; i++) body.push(entry(r, `s${String(i).padStart(3, "0")}`));
    let view: ReadonlyMap<string, DiscoveredMember> = new Map();
    let aligned: AlignedAnswer | undefined;
    let short = 0;
    for (let step = 0; step < 600; step++) {
      const next = [...body];
      const op = r();
      const k = Math.floor(r() * next.length);
      if (op < 0.75) {
        // In place: a new object for one or a few entries (same or another id).
        for (let c = 0; c < 1 + Math.floor(r() * 3); c++) {
          const at = Math.floor(r() * next.length);
          const id = r() < 0.97 ? (next[at] as { Service: { ID: string } }).Service.ID : `s${step}x`;
          next[at] = entry(r, id);
        }
      } else if (op < 0.85) next.splice(k, 1);
      else if (op < 0.95) next.splice(k, 0, entry(r, `s${String(k).padStart(3, "0")}y${step}`));
      // else: the same answer again (a wait that timed out)
      body = next;
      const what = `seed=${SEED} warningIsHealthy=${warningIsHealthy} step ${step}`;
      const full = parseHealthEntries(body, warningIsHealthy, view, memo);
      const fullDiff = diffMembers(view, full.members);
      const fast = parseAligned(body, aligned, view, warningIsHealthy, memo);
      if (fast !== undefined) {
        short++;
        assert.deepEqual(full.warnings, [], what);
        assert.deepEqual([...fast.view.keys()], [...full.members.keys()], what);
        for (const [id, m] of full.members) assert.equal(fast.view.get(id), m, `${what}: ${id} identity`);
        assert.deepEqual(fast.diff, fullDiff, what);
      }
      view = full.members;
      aligned =
        fast?.answer ??
        (full.warnings.length === 0 ? alignedAnswer(body, view, warningIsHealthy, memo) : undefined);
    }
    assert.ok(short > 100, `seed=${SEED}: the short path ran ${short} times of 600`);
  }
});
