// PoolSeries.finished (the request path's count of a finished request, which reads a member's
// row through an index by slot and touches its series object only on a miss) against the
// long way, memberAt(slot, id).countRequest(route, cls) then served(seconds, failed), over
// seeded sequences of joins, leaves (a leaver's slot passing to a joiner), route-table changes
// and requests that carry a current slot, a stale one, a wrong one or none.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createMetrics } from "../../proxy/metrics/registry.js";
import { type PoolSeries, SeriesCache } from "../../proxy/metrics/series-cache.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const BASE_SEED = testSeed(16_161);
const ROUTES = ["r1", "r2", "r3"];

/** Everything /metrics and the dashboard read of a member's series (or of "none" / "removed"). */
function countsOf(ps: PoolSeries, id: string): unknown {
  const s = id === "none" ? ps.none : id === "removed" ? ps.removed : ps.members.get(id);
  if (s === undefined) return null;
  const live = s.live;
  return {
    count: live.count,
    errors: live.errors,
    sum: live.sum,
    buckets: Array.from(live.buckets),
    requests: [...s.requestSamples()]
      .map((x) => `${x.labels.route}/${x.labels.code_class}=${x.value}`)
      .sort(),
  };
}

describe("PoolSeries.finished", () => {
  test("counts what memberAt + countRequest + served count, across member and route changes (seeded)", () => {
    let fastHits = 0;
    for (let k = 0; k < 24; k++) {
      const seed = BASE_SEED + k;
      const rnd = seededRandom(seed);
      const why = (s: string) => `${seedNote(BASE_SEED)} (+${k}): ${s}`;
      const short = new SeriesCache(createMetrics({ processMetrics: false }));
      const long = new SeriesCache(createMetrics({ processMetrics: false }));
      // Members in slot order as the data plane would see them: slot -> id (a leaver's slot is
      // taken by the next joiner). Ids stay sorted in the committed list.
      const slots: string[] = [];
      let next = 0;
      const join = () => {
        const id = `m${String(next++).padStart(4, "0")}`;
        const free = slots.indexOf("");
        if (free >= 0) slots[free] = id;
        else slots.push(id);
      };
      for (let i = 0, n = 2 + Math.floor(rnd() * 20); i < n; i++) join();
      const ids = () => slots.filter((s) => s !== "").sort();
      const everSeen = new Map<string, number>();
      let routes = ["r1"];
      for (const c of [short, long]) {
        c.syncRoutes(routes);
        c.syncMembers("p", ids());
      }
      for (let step = 0; step < 60; step++) {
        const op = pick(rnd, ["requests", "requests", "requests", "join", "leave", "routes"] as const);
        if (op === "join") join();
        else if (op === "leave" && ids().length > 1) {
          const live = slots.map((s, i) => (s === "" ? -1 : i)).filter((i) => i >= 0);
          slots[pick(rnd, live)] = "";
        } else if (op === "routes") {
          routes = ROUTES.filter(() => rnd() < 0.6);
          if (routes.length === 0) routes = ["r1"];
        }
        for (const c of [short, long]) {
          c.syncRoutes(routes);
          c.syncMembers("p", ids());
        }
        for (const [i, id] of slots.entries()) if (id !== "") everSeen.set(id, i);
        const a = short.pool("p");
        const b = long.pool("p");
        for (let q = 0; q < 40; q++) {
          // A current member at its slot, a member that left (its old slot), a wrong slot, no
          // slot, or no member at all.
          const r = rnd();
          const seen = [...everSeen];
          const [id, own] = r < 0.05 ? ["", -1] : pick(rnd, seen);
          const slot = r < 0.8 ? own : r < 0.9 ? Math.floor(rnd() * (slots.length + 2)) : -1;
          const route = rnd() < 0.8 ? routes[0] : pick(rnd, [...ROUTES, "none"]);
          const cls = Math.floor(rnd() * 5);
          const serve = id !== "" && rnd() < 0.9;
          const seconds = Math.floor(rnd() * 3000) / 1000;
          const failed = rnd() < 0.2;
          const before = countsOf(a, id);
          a.finished(slot, id, route, cls, serve, seconds, failed);
          const ms = b.memberAt(slot, id);
          ms.countRequest(route, cls);
          if (serve) ms.served(seconds, failed);
          if (id !== "" && before !== null && ms === b.members.get(id)) fastHits++;
        }
        for (const id of [...everSeen.keys(), "none", "removed"]) {
          assert.deepEqual(
            countsOf(a, id),
            countsOf(b, id),
            why(`step ${step} (${op}): ${id}'s counts (routes ${routes.join(",")})`),
          );
        }
      }
    }
    assert.ok(fastHits > 1000, `${seedNote(BASE_SEED)}: requests of current members were counted`);
  });

  test("a leaver's slot taken by a joiner: the leaver's late request counts as removed, not the joiner's", () => {
    const cache = new SeriesCache(createMetrics({ processMetrics: false }));
    cache.syncRoutes(["r"]);
    cache.syncMembers("p", ["a", "b"]);
    const ps = cache.pool("p");
    // b at slot 1 serves (its row and first route are learned), then leaves; c joins at slot 1.
    ps.finished(1, "b", "r", 1, true, 0.001, false);
    ps.finished(1, "b", "r", 1, true, 0.001, false);
    cache.syncMembers("p", ["a", "c"]);
    ps.finished(1, "b", "r", 1, true, 0.002, false);
    assert.equal(ps.removed.live.count, 1, "b's late request counts as removed");
    assert.equal(ps.members.get("c")?.live.count, 0, "c served nothing");
    ps.finished(1, "c", "r", 1, true, 0.003, false);
    ps.finished(1, "c", "r", 1, true, 0.003, false);
    assert.equal(ps.members.get("c")?.live.count, 2);
    assert.equal(ps.removed.live.count, 1);
  });

  test("a route the table dropped: a member's next request on its new route counts there", () => {
    const cache = new SeriesCache(createMetrics({ processMetrics: false }));
    cache.syncRoutes(["r", "s"]);
    cache.syncMembers("p", ["a"]);
    const ps = cache.pool("p");
    ps.finished(0, "a", "r", 1, true, 0.001, false);
    ps.finished(0, "a", "r", 1, true, 0.001, false);
    cache.syncRoutes(["s"]);
    ps.finished(0, "a", "r", 1, true, 0.001, false);
    ps.finished(0, "a", "s", 1, true, 0.001, false);
    const requests = [...(ps.members.get("a")?.requestSamples() ?? [])].map(
      (x) => `${x.labels.route}=${x.value}`,
    );
    assert.deepEqual(requests.sort(), ["removed=1", "s=1"]);
    assert.equal(ps.members.get("a")?.live.count, 4, "every request is a latency sample of a");
  });
});
