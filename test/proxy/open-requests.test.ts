// The in-flight table of the metrics observer (proxy/forward/open-requests.ts): what it holds
// (exactly the open records, slots reused, start/end idempotent), and the reason it exists:
// records that went through the observer and finished must not be promoted to the old
// generation by young-generation collections (a Set there promoted every finished request,
// about 3 KB each under load). The GC check forces scavenges only (gc({ type: "minor" })) and
// reads the old space's growth; the figure is a bound with a wide margin, not a timing.

import assert from "node:assert/strict";
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { OpenRequests } from "../../proxy/forward/open-requests.js";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(0x5107);

interface Rec {
  openSlot: number;
  id: number;
}

test("holds exactly the open records; slots are reused; add and delete are idempotent", () => {
  const rand = seededRandom(SEED);
  const table = new OpenRequests<Rec>();
  const model = new Set<Rec>();
  let peak = 0;
  for (let i = 0; i < 5000; i++) {
    if (model.size === 0 || rand() < 0.55) {
      const r = { openSlot: -1, id: i };
      table.add(r);
      table.add(r); // a second start of the same record changes nothing
      model.add(r);
    } else {
      const pick = [...model][Math.floor(rand() * model.size)];
      table.delete(pick);
      table.delete(pick);
      model.delete(pick);
      assert.equal(pick.openSlot, -1, `${seedNote(SEED)} step ${i}`);
    }
    peak = Math.max(peak, model.size);
    assert.equal(table.size, model.size, `${seedNote(SEED)} step ${i}`);
  }
  const held = [...table];
  assert.equal(held.length, model.size, `${seedNote(SEED)}`);
  for (const r of held) assert.ok(model.has(r), `${seedNote(SEED)}: record ${r.id} held after its end`);
  // Never more slots than the peak number open: every freed slot is taken again first.
  assert.ok(Math.max(...held.map((r) => r.openSlot)) < peak, `${seedNote(SEED)}`);
  // A record the table never held (or a stale slot index) is not deleted by mistake.
  const stranger = { openSlot: held[0]?.openSlot ?? 0, id: -1 };
  table.delete(stranger);
  assert.equal(table.size, model.size);
});

interface Payloaded extends Rec {
  payload: number[];
}

/**
 * Old-space growth while `n` records (about 0.5 KB each, standing for a request's objects)
 * pass through a table 50 at a time, with a scavenge every 500 and no full collection.
 */
function promotedBy(add: (r: Payloaded) => void, del: (r: Payloaded) => void, n: number): number {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as (o?: { type: "minor" | "major" }) => void;
  const oldUsed = (): number =>
    v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")?.space_used_size ?? 0;
  const open: Payloaded[] = [];
  gc();
  const before = oldUsed();
  for (let i = 0; i < n; i++) {
    const r = { openSlot: -1, id: i, payload: new Array(64).fill(i) };
    add(r);
    open.push(r);
    if (open.length > 50) del(open.shift() as Payloaded);
    if (i % 500 === 0) gc({ type: "minor" });
  }
  gc({ type: "minor" });
  gc({ type: "minor" });
  const grown = oldUsed() - before;
  for (const r of open) del(r);
  return grown;
}

test("finished records are not promoted by scavenges (a Set in its place promotes them all)", (t) => {
  const N = 20_000;
  const table = new OpenRequests<Payloaded>();
  const viaTable = promotedBy(
    (r) => table.add(r),
    (r) => table.delete(r),
    N,
  );
  const set = new Set<Payloaded>();
  const viaSet = promotedBy(
    (r) => set.add(r),
    (r) => set.delete(r),
    N,
  );
  t.diagnostic(`old space growth over ${N} records: table ${viaTable} B, Set ${viaSet} B`);
  // The Set's retired tables keep ~N x 0.5 KB (about 8 MB here); the table only the 50 open.
  assert.ok(viaTable < 1_000_000, `old space grew ${viaTable} bytes over ${N} finished records`);
});
