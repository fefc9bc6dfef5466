// Affinity for keys without a cookie, kept in Redis so every instance honours it. The first
// request for a key lets the ring choose and pins that member (SET NX PX: the first instance
// wins); later requests go to the pinned member while it may take them, sliding the pin's
// TTL; otherwise the key is re-pinned (compare-and-set) to the ring's current choice.
//   sticky: a pin holds while its member may take requests, whatever the ring says now, so a
//           scale-out moves no existing key;
//   ring:   a pin holds only while its member is also the key's ring owner (or the owner
//           cannot take requests), so a membership change moves keys like the ring does,
//           while a pin made during an owner's outage stays put until the owner is back.
// A short-lived in-process copy (PinCache) keeps Redis off most requests. Redis failing or
// its breaker open: the ring chooses (counted as a store error), nothing waits longer than
// the command timeout.

import type { AffinityConfig } from "../../config/file/edge-schema.js";
import { hashKey } from "../../ring/hash.js";
import type { EdgeRouteMetrics } from "../edge/edge-metrics.js";
import type { EdgeState } from "../edge/edge-state.js";
import type { RequestContext } from "../forward/request-context.js";
import type { RedisStore } from "../redis/redis-store.js";
import { storeKey } from "../redis/store-key.js";
import { chooseMember, isRoutable } from "../routing/member-choice.js";
import type { PoolLiveView, PoolSnapshot } from "../routing/types.js";
import { type Affinity, type AffinityExplanation, mayServeSession } from "./affinity.js";
import { PIN, REPIN } from "./affinity-scripts.js";
import type { DrainClock } from "./drain-clock.js";
import { PinCache } from "./pin-cache.js";

export class StoreAffinity implements Affinity {
  private readonly local: PinCache;
  private readonly ttl: string;

  constructor(
    private readonly cfg: AffinityConfig,
    private readonly store: RedisStore,
    private readonly drains: DrainClock,
    private readonly metrics: EdgeRouteMetrics,
    private readonly now: () => number,
  ) {
    this.local = new PinCache(cfg.localTtl, cfg.localMaxEntries);
    this.ttl = String(cfg.ttl);
    store.defineScript(PIN);
    store.defineScript(REPIN);
  }

  /** Whether a pin to `index` holds now (see the header for the two modes). */
  private holds(
    snapshot: PoolSnapshot,
    index: number,
    hash: number,
    live: PoolLiveView | null,
    now: number,
  ): boolean {
    if (!mayServeSession(snapshot, index, live, now, this.drains, this.cfg.drainDeadline)) return false;
    if (this.cfg.mode === "sticky") return true;
    const owner = snapshot.table.lookup(hash);
    return owner === index || !isRoutable(snapshot, owner, live, now);
  }

  choose(ctx: RequestContext, st: EdgeState): Promise<void> | undefined {
    const snapshot = ctx.snapshot;
    const key = ctx.routingKey;
    // A request without a key (random policy) has nothing to be sticky by.
    if (snapshot === null || key === "") return undefined;
    const now = this.now();
    const cached = this.local.get(key, now);
    if (cached !== undefined) {
      const index = snapshot.byId.get(cached);
      if (index !== undefined && this.holds(snapshot, index, ctx.hash, ctx.live, now)) {
        ctx.preferred = index;
        st.affinitySource = "cache";
        this.metrics.affinity("store", "hit").inc();
        return undefined;
      }
    }
    return this.fromStore(ctx, st, snapshot, key);
  }

  private async fromStore(
    ctx: RequestContext,
    st: EdgeState,
    snapshot: PoolSnapshot,
    key: string,
  ): Promise<void> {
    st.affinitySource = "ring";
    const ring = chooseMember(snapshot, ctx.hash, ctx.live, this.now(), ctx);
    if (ring < 0) return;
    const ringId = snapshot.members[ring].id;
    const rkey = storeKey("aff", `${snapshot.name}|${key}`);
    try {
      const [stored, created] = await this.store.script<[string, number]>(PIN.name, [rkey, ringId, this.ttl]);
      const now = this.now();
      if (created === 1) {
        this.metrics.affinity("store", "miss").inc();
        this.local.set(key, ringId, now);
        return;
      }
      const index = snapshot.byId.get(stored);
      if (index !== undefined && this.holds(snapshot, index, ctx.hash, ctx.live, now)) {
        ctx.preferred = index;
        st.affinitySource = "store";
        this.metrics.affinity("store", "hit").inc();
        this.local.set(key, stored, now);
        return;
      }
      const current = await this.store.script<string>(REPIN.name, [rkey, stored, ringId, this.ttl]);
      this.metrics.affinity("store", "repin").inc();
      const ci = snapshot.byId.get(current);
      // Another instance may have re-pinned first: follow it when it holds, else the ring.
      if (
        current !== ringId &&
        ci !== undefined &&
        this.holds(snapshot, ci, ctx.hash, ctx.live, this.now())
      ) {
        ctx.preferred = ci;
        st.affinitySource = "store";
        this.local.set(key, current, this.now());
      } else {
        this.local.set(key, ringId, this.now());
      }
    } catch {
      this.metrics.storeErrors.affinity.inc();
      this.local.delete(key);
    }
  }

  onResponse(): void {}

  async explain(snapshot: PoolSnapshot, key: string): Promise<AffinityExplanation> {
    const now = this.now();
    const hash = hashKey(key);
    const cached = this.local.get(key, now);
    if (cached !== undefined) {
      const i = snapshot.byId.get(cached);
      if (i !== undefined && this.holds(snapshot, i, hash, null, now))
        return { member: cached, source: "cache" };
    }
    let stored: string | null = null;
    try {
      stored = await this.store.run((c) => c.get(storeKey("aff", `${snapshot.name}|${key}`)));
    } catch (err) {
      return { member: null, source: "ring", note: `store unavailable: ${(err as Error).message}` };
    }
    if (stored === null) return { member: null, source: "ring", note: "no pin: the ring chooses" };
    const i = snapshot.byId.get(stored);
    if (i !== undefined && this.holds(snapshot, i, hash, null, now))
      return { member: stored, source: "store" };
    return {
      member: null,
      source: "ring",
      note: `pinned member ${stored} may not take requests: re-pinned on the next request`,
    };
  }
}
