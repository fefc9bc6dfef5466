// The recorder's slot lifecycle at pool scale: drain() visits only members with activity and
// reports exactly what a naive per-member model counts, resetSlot() forgets everything of one
// member (its failure run and probe budget too), and released slots are reused only after
// reclaim(), so a pool whose members churn does not grow the recorder.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type OutcomeCounts, OutcomeRecorder } from "../../health/outcome-recorder.js";
import { seededRandom, testSeed } from "../support/prng.js";

interface Model {
  success: number;
  failure: number;
  run: number;
  maxRun: number;
  connects: number;
  resets: number;
  timeouts: number;
}

const fresh = (): Model => ({
  success: 0,
  failure: 0,
  run: 0,
  maxRun: 0,
  connects: 0,
  resets: 0,
  timeouts: 0,
});

describe("OutcomeRecorder slots", () => {
  test("random record/drain/reset/release sequences match a per-member model (seeded)", () => {
    const base = testSeed(0);
    for (let seed = base + 1; seed <= base + 20; seed++) {
      const why = `seed ${seed}`;
      const rnd = seededRandom(seed);
      const r = new OutcomeRecorder({ failureStatuses: [503] });
      const model = new Map<string, Model>();
      const slots = new Map<string, number>();
      let nextId = 0;
      const add = () => {
        const id = `m${nextId++}`;
        slots.set(id, r.slot("p", id));
        model.set(id, fresh());
      };
      for (let i = 0; i < 50; i++) add();
      for (let step = 0; step < 400; step++) {
        const ids = [...slots.keys()];
        const id = ids[Math.floor(rnd() * ids.length)];
        const slot = slots.get(id) as number;
        const m = model.get(id) as Model;
        const op = rnd();
        if (op < 0.45) {
          const failed = rnd() < 0.3;
          r.recordStatus(slot, failed ? 503 : 200);
          if (failed) {
            m.failure++;
            m.run++;
            m.maxRun = Math.max(m.maxRun, m.run);
          } else {
            m.success++;
            m.run = 0;
          }
        } else if (op < 0.6) {
          const kind = (["connect", "reset", "timeout"] as const)[Math.floor(rnd() * 3)];
          r.recordError(slot, kind);
          if (kind === "connect") m.connects++;
          else if (kind === "reset") m.resets++;
          else m.timeouts++;
          m.failure++;
          m.run++;
          m.maxRun = Math.max(m.maxRun, m.run);
        } else if (op < 0.7) {
          r.resetSlot(slot);
          model.set(id, fresh());
        } else if (op < 0.75 && ids.length > 5) {
          r.release("p", id);
          slots.delete(id);
          model.delete(id);
        } else if (op < 0.8) {
          add();
        } else if (op < 0.85) {
          r.reclaim();
        } else {
          const got = new Map<string, OutcomeCounts>(r.drain().entries.map((e) => [e.member, e]));
          for (const [mid, mm] of model) {
            const e = got.get(mid);
            if (mm.success === 0 && mm.failure === 0) {
              assert.equal(e, undefined, `${why}: ${mid} had no activity but was drained`);
              continue;
            }
            assert.deepEqual(
              e,
              {
                pool: "p",
                member: mid,
                success: mm.success,
                failure: mm.failure,
                consecutive: mm.run,
                maxConsecutive: mm.maxRun,
                connectErrors: mm.connects,
                resets: mm.resets,
                timeouts: mm.timeouts,
              },
              `${why}: drained counts of ${mid}`,
            );
            Object.assign(mm, {
              success: 0,
              failure: 0,
              connects: 0,
              resets: 0,
              timeouts: 0,
              maxRun: mm.run,
            });
          }
          assert.equal(
            got.size,
            [...got.keys()].filter((k) => model.has(k)).length,
            `${why}: only live members`,
          );
        }
      }
      assert.equal(r.size, slots.size, `${why}: one slot per live member`);
    }
  });

  test("a released slot is reused only after reclaim(), so churn does not grow the recorder", () => {
    const r = new OutcomeRecorder();
    const a = r.slot("p", "a");
    r.recordStatus(a, 200);
    r.release("p", "a");
    const b = r.slot("p", "b");
    assert.notEqual(b, a, "not reused before reclaim()");
    r.reclaim();
    const c = r.slot("p", "c");
    assert.equal(c, a, "reused after reclaim()");
    assert.deepEqual(r.drain().entries, [], "the released member's counts were dropped");
    for (let i = 0; i < 1000; i++) {
      r.release("p", i % 2 === 0 ? "b" : "c");
      r.reclaim();
      r.reclaim();
      r.slot("p", i % 2 === 0 ? "b" : "c");
    }
    assert.equal(r.size, 2);
  });

  test("resetSlot restores the probe budget and ends a carried failure run", () => {
    const r = new OutcomeRecorder();
    const s = r.slot("p", "x");
    for (let i = 0; i < 5; i++) r.recordStatus(s, 503);
    assert.equal(r.admitProbe(s, 1), true);
    assert.equal(r.admitProbe(s, 1), false);
    r.resetSlot(s);
    assert.equal(r.admitProbe(s, 1), true, "fresh probe budget");
    r.recordStatus(s, 200);
    assert.deepEqual(
      r.drain().entries.map((e) => [e.success, e.failure, e.maxConsecutive]),
      [[1, 0, 0]],
      "no failure run from before the reset",
    );
  });
});
