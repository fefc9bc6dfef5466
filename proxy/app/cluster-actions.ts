// Operator actions on the fleet from the admin API: drain/undrain and breaker overrides are
// cluster proposals that answer once committed, with the new ring version; fault injection
// cuts or heals this node's Raft links (tests only, off unless configured).

import type { BreakerOverride } from "../../config/state/commands.js";
import { memberIndex } from "../../config/state/transitions.js";
import type { AdminError, AdminResult, BreakerView, DrainView, FaultView } from "../admin/types.js";
import type { ClusterNode } from "../cluster/cluster-node.js";
import type { CommittedRouting } from "../cluster/committed-routing.js";
import { proposalError } from "./errors.js";

export class ClusterActions {
  constructor(
    private readonly cluster: ClusterNode,
    private readonly routing: CommittedRouting,
  ) {}

  /** The committed pool named `pool` (own keys only: "constructor" or "__proto__" is no pool). */
  private pool(pool: string) {
    const pools = this.cluster.state.pools;
    return Object.hasOwn(pools, pool) ? pools[pool] : undefined;
  }

  private knownMember(pool: string, member: string): AdminError | null {
    // Before this instance applied any committed state, "no such pool" would be a guess.
    if (!this.routing.applied)
      return {
        status: 503,
        error: "no_committed_state",
        message: "this instance has not applied the cluster state yet; retry shortly",
        retryAfterS: 1,
      };
    const p = this.pool(pool);
    if (p === undefined) return { status: 404, error: "unknown_pool", message: `no pool named "${pool}"` };
    if (memberIndex(p.members, member) < 0)
      return { status: 404, error: "unknown_member", message: `pool "${pool}" has no member "${member}"` };
    return null;
  }

  private member(pool: string, member: string) {
    const members = this.pool(pool)?.members ?? [];
    return members[memberIndex(members, member)];
  }

  async setDraining(pool: string, member: string, draining: boolean): Promise<AdminResult<DrainView>> {
    const unknown = this.knownMember(pool, member);
    if (unknown !== null) return { ok: false, err: unknown };
    try {
      await this.cluster.proposeWithRetry({ v: 1, type: draining ? "Drain" : "Undrain", pool, member });
    } catch (err) {
      return { ok: false, err: proposalError(err) };
    }
    const committed = this.member(pool, member)?.draining ?? draining;
    return { ok: true, value: { pool, member, draining: committed, ringVersion: this.routing.ringVersion } };
  }

  /** Operator breaker override through the leader. */
  async setBreaker(pool: string, member: string, state: BreakerOverride): Promise<AdminResult<BreakerView>> {
    const unknown = this.knownMember(pool, member);
    if (unknown !== null) return { ok: false, err: unknown };
    if (!this.pool(pool)?.settings.breaker.enabled)
      return {
        ok: false,
        err: {
          status: 409,
          error: "breaker_disabled",
          message: `pool "${pool}" has its breaker disabled (breaker.enabled: false)`,
        },
      };
    try {
      await this.cluster.overrideBreaker(pool, member, state);
    } catch (err) {
      return { ok: false, err: proposalError(err) };
    }
    const m = this.member(pool, member);
    return {
      ok: true,
      value: {
        pool,
        member,
        breaker: m?.breaker.state ?? "closed",
        override: m?.breaker.override ?? "auto",
        ringVersion: this.routing.ringVersion,
      },
    };
  }

  fault(action: "cut" | "heal", peer: string | undefined): AdminResult<FaultView> {
    const settings = this.cluster.settings;
    if (!settings.faultInjection)
      return {
        ok: false,
        err: {
          status: 403,
          error: "fault_injection_disabled",
          message: "fault injection is off: set cluster.faultInjection: true or SHARDGATE_FAULT_INJECTION=1",
        },
      };
    if (peer === settings.id)
      return {
        ok: false,
        err: { status: 400, error: "bad_request", message: "cannot cut this node from itself" },
      };
    // An unknown id would only grow the transport's cut set: say so instead.
    if (
      peer !== undefined &&
      !Object.hasOwn(settings.peers, peer) &&
      !Object.hasOwn(this.cluster.driver.peerAddresses(), peer)
    )
      return { ok: false, err: { status: 404, error: "unknown_peer", message: `no peer named "${peer}"` } };
    const cut = action === "cut" ? this.cluster.cut(peer) : this.cluster.heal(peer);
    return { ok: true, value: { cut } };
  }
}
