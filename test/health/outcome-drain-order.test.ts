// OutcomeRecorder.drain() without a sort per drain (issue 16): whether it walks its bitmap of
// active slots (many active) or sorts the short list (few active in a big table), its batch
// must be the one the previous drain gave, entry for entry: the slots with an outcome since
// the last drain, in ascending slot order, with the same counts. The reference below is that
// previous algorithm (a list of touched slots, sorted at each drain), kept apart from the
// recorder and fed the same seeded operations; pool sizes and activity levels range from one
// active slot in thousands to every slot active, so both ways of draining are exercised.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type OutcomeCounts,
  OutcomeRecorder,
  type UpstreamErrorKind,
} from "../../health/outcome-recorder.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

/** The drain as it was: counters by slot, the touched slots in arrival order, sorted at drain. */
class Reference {
  private readonly counts = new Map<number, number[]>();
  private readonly names = new Map<number, [string, string]>();
  private touched: number[] = [];
  private readonly marked = new Set<number>();

  name(slot: number, pool: string, member: string): void {
    this.names.set(slot, [pool, member]);
  }

  private at(slot: number): number[] {
    let c = this.counts.get(slot);
    if (c === undefined) {
      c = [0, 0, 0, 0, 0, 0, 0];
      this.counts.set(slot, c);
    }
    return c;
  }

  private touch(slot: number): void {
    if (this.marked.has(slot)) return;
    this.marked.add(slot);
    this.touched.push(slot);
  }

  success(slot: number): void {
    this.touch(slot);
    const c = this.at(slot);
    c[0]++;
    c[2] = 0;
  }

  failure(slot: number, kind: UpstreamErrorKind | null): void {
    this.touch(slot);
    const c = this.at(slot);
    if (kind === "connect") c[4]++;
    else if (kind === "reset") c[5]++;
    else if (kind === "timeout") c[6]++;
    c[1]++;
    c[2]++;
    if (c[2] > c[3]) c[3] = c[2];
  }

  reset(slot: number): void {
    this.counts.delete(slot);
  }

  drain(): OutcomeCounts[] {
    const out: OutcomeCounts[] = [];
    const order = this.touched.sort((a, b) => a - b);
    this.touched = [];
    this.marked.clear();
    for (const s of order) {
      const c = this.at(s);
      if (c[0] === 0 && c[1] === 0) continue;
      const [pool, member] = this.names.get(s) as [string, string];
      out.push({
        pool,
        member,
        success: c[0],
        failure: c[1],
        consecutive: c[2],
        maxConsecutive: c[3],
        connectErrors: c[4],
        resets: c[5],
        timeouts: c[6],
      });
      c[0] = 0;
      c[1] = 0;
      c[4] = 0;
      c[5] = 0;
      c[6] = 0;
      c[3] = c[2];
    }
    return out;
  }
}

const KINDS: readonly UpstreamErrorKind[] = ["connect", "reset", "timeout"];

describe("OutcomeRecorder.drain order and contents", () => {
  test("matches the sorted-list drain across random pools, activity and churn (seeded)", () => {
    const base = testSeed(1616);
    // Pool sizes around the table's growth steps and far past them; in each period a random
    // share of the slots sees outcomes, from a single slot to all of them.
    const sizes = [1, 3, 31, 33, 100, 1000, 4100];
    let drains = 0;
    let sparse = 0;
    let dense = 0;
    for (let k = 0; k < 12; k++) {
      const seed = base + k;
      const rnd = seededRandom(seed);
      const size = sizes[k % sizes.length];
      const r = new OutcomeRecorder({ failureStatuses: [500, 503] });
      const ref = new Reference();
      const live = new Map<string, number>();
      /** Slots released but maybe still held by a reader (recorded to until reclaim). */
      let stale: number[] = [];
      let nextId = 0;
      const add = () => {
        const pool = rnd() < 0.8 ? "a" : "b";
        const id = `${pool}:m${nextId++}`;
        const slot = r.slot(pool, id);
        live.set(id, slot);
        ref.name(slot, pool, id);
      };
      for (let i = 0; i < size; i++) add();
      for (let period = 0; period < 40; period++) {
        const ids = [...live.keys()];
        const slots = ids.map((id) => live.get(id) as number);
        // How many distinct slots see traffic this period: few, some, or most.
        const shape = rnd();
        const activeWanted =
          shape < 0.35
            ? 1 + Math.floor(rnd() * 4)
            : shape < 0.7
              ? 1 + Math.floor(rnd() * Math.max(1, slots.length / 20))
              : Math.ceil(slots.length * (0.5 + rnd() * 0.5));
        const chosen: number[] = [];
        for (let i = 0; i < activeWanted; i++) chosen.push(slots[Math.floor(rnd() * slots.length)]);
        const records = activeWanted * (1 + Math.floor(rnd() * 3));
        for (let i = 0; i < records; i++) {
          const s = chosen[Math.floor(rnd() * chosen.length)];
          const op = rnd();
          if (op < 0.55) {
            r.recordStatus(s, 200);
            ref.success(s);
          } else if (op < 0.7) {
            const status = rnd() < 0.5 ? 500 : 503;
            r.recordStatus(s, status);
            ref.failure(s, null);
          } else if (op < 0.85) {
            const kind = KINDS[Math.floor(rnd() * KINDS.length)];
            r.recordError(s, kind);
            ref.failure(s, kind);
          } else if (op < 0.9) {
            r.recordFailure(s);
            ref.failure(s, null);
          } else if (op < 0.93) {
            r.resetSlot(s);
            ref.reset(s);
          } else if (op < 0.95 && stale.length > 0) {
            // A reader still holding a released slot's number records to it.
            const old = stale[Math.floor(rnd() * stale.length)];
            r.recordStatus(old, 503);
            ref.failure(old, null);
          } else {
            r.recordStatus(s, 404);
            ref.success(s);
          }
        }
        // Churn between periods: leavers, joiners (reusing reclaimed slots), reclaims.
        const churn = rnd();
        if (churn < 0.3 && ids.length > 1) {
          const id = ids[Math.floor(rnd() * ids.length)];
          const slot = live.get(id) as number;
          const pool = id.slice(0, 1);
          r.release(pool, id);
          ref.reset(slot);
          ref.name(slot, pool, "");
          live.delete(id);
          stale.push(slot);
        } else if (churn < 0.5) {
          r.reclaim();
          stale = [];
        } else if (churn < 0.7) {
          add();
        }
        const want = ref.drain();
        const got = r.drain().entries;
        drains++;
        if (want.length * 4 * 32 < Math.max(32, live.size)) sparse++;
        else dense++;
        assert.deepEqual(got, want, `size ${size}, period ${period}: drained batch; ${seedNote(seed)}`);
      }
      assert.deepEqual(r.drain().entries, [], `a second drain is empty; ${seedNote(seed)}`);
    }
    // The sequences reached both few and many active slots per table (not a check on the recorder).
    assert.ok(drains === 12 * 40 && sparse > 20 && dense > 20, `sparse ${sparse}, dense ${dense}`);
  });

  test("a drain after every slot of a grown table was active lists them all in slot order", () => {
    const r = new OutcomeRecorder();
    const n = 5000;
    const slots = Array.from({ length: n }, (_, i) => r.slot("p", `m${i}`));
    // Recorded in reverse, so arrival order is the opposite of slot order.
    for (let i = n - 1; i >= 0; i--) r.recordStatus(slots[i], 200);
    const got = r.drain().entries.map((e) => e.member);
    assert.deepEqual(
      got,
      slots.map((_, i) => `m${i}`),
    );
    r.recordStatus(slots[n - 1], 200);
    r.recordStatus(slots[0], 502);
    assert.deepEqual(
      r.drain().entries.map((e) => [e.member, e.success, e.failure]),
      [
        ["m0", 0, 1],
        [`m${n - 1}`, 1, 0],
      ],
    );
  });
});
