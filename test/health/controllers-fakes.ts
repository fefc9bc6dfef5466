// Test doubles for the leader-side controllers: a manual clock with timers, a cluster that
// validates every proposed command with validateCommand and applies it to a real
// ClusterState (so a command that would not apply cleanly fails the test), and a watcher
// whose member view the test sets by hand.

import { EventEmitter } from "node:events";
import { ClusterState } from "../../config/state/cluster-state.js";
import { type CommandInput, encodeCommand, validateCommand } from "../../config/state/commands.js";
import type { ClusterStateData, StateChange } from "../../config/state/types.js";
import type { DiscoveredMember } from "../../health/consul-members.js";
import type { MembershipUpdate, WatcherStatus } from "../../health/consul-watcher.js";
import type { ControllerClock, TimerHandle } from "../../health/controller/deps.js";
import type { MemberWatcher } from "../../health/membership-controller.js";
import { routingFrom } from "../config/cluster-fixtures.js";

const EPOCH = 1_760_000_000_000;

/** Manual monotonic clock; advance() fires due timers in time order and lets promises settle. */
export class FakeClock implements ControllerClock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  wallNow(): number {
    return EPOCH + this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing timers as their time comes (bounded to 100000 firings). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (let fired = 0; fired < 100_000; fired++) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers)
        if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets chains of resolved promises run (a propose that resolves at once, then its follow-ups). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface Proposal {
  readonly command: CommandInput;
  readonly at: number;
  readonly change: StateChange | undefined;
}

/**
 * A one-replica "cluster": propose validates the command as the leader would, then applies it
 * at the next index. `failNext(n)` makes the next n proposals reject without applying;
 * `hold()` keeps proposals pending until `release()`.
 */
export class TestCluster {
  readonly state = new ClusterState();
  readonly proposals: Proposal[] = [];
  private index = 0;
  private failures = 0;
  private held: (() => void)[] | undefined;
  /** Called after each apply (the wiring calls the controllers' refresh() here). */
  onApplied: (change: StateChange) => void = () => {};

  constructor(
    routingYaml: string,
    private readonly clock?: { now(): number },
  ) {
    this.applyNow({ v: 1, type: "SetRouting", routing: routingFrom(routingYaml) });
  }

  get current(): ClusterStateData {
    return this.state.current;
  }

  readonly getState = (): ClusterStateData => this.state.current;

  failNext(n: number): void {
    this.failures = n;
  }
  hold(): void {
    this.held = [];
  }
  release(): void {
    const h = this.held ?? [];
    this.held = undefined;
    for (const f of h) f();
  }

  /** Applies a command directly (as if another leader had committed it). */
  applyNow(command: CommandInput): StateChange {
    const bytes = encodeCommand(command);
    const v = validateCommand(bytes);
    if (!v.ok) throw new Error(`invalid command ${JSON.stringify(command)}: ${v.error}`);
    const change = this.state.apply(++this.index, bytes);
    if (!change.applied) throw new Error(`command did not apply: ${change.error}`);
    return change;
  }

  readonly propose = async (command: CommandInput): Promise<void> => {
    const at = this.clock?.now() ?? 0;
    if (this.failures > 0) {
      this.failures--;
      this.proposals.push({ command, at, change: undefined });
      throw new Error("not leader");
    }
    if (this.held !== undefined) {
      const h = this.held;
      await new Promise<void>((r) => h.push(r));
    }
    const change = this.applyNow(command);
    this.proposals.push({ command, at, change });
    this.onApplied(change);
  };

  /** Proposals that committed, as compact strings ("SetHealth users u1=down"). */
  committed(): string[] {
    return this.proposals.filter((p) => p.change !== undefined).map((p) => describe(p.command));
  }
}

export function describe(c: CommandInput): string {
  switch (c.type) {
    case "SetHealth":
      return `SetHealth ${c.pool} ${c.health.map((h) => `${h.member}=${h.healthy ? "up" : "down"}`).join(",")}`;
    case "SetMembers":
      return `SetMembers ${c.pool} ${c.members
        .map((m) => `${m.id}@${String(m.address)}w${m.weight ?? 1}${m.healthy === false ? "!" : ""}`)
        .join(",")}`;
    case "SetBreaker":
      return `SetBreaker ${c.pool} ${c.member} ${c.state} trips=${c.trips ?? 0}`;
    default:
      return c.type;
  }
}

/** A watcher whose view the test sets; emits `update` like ConsulWatcher. */
export class FakeWatcher extends EventEmitter implements MemberWatcher {
  started = 0;
  stopped = 0;
  private view: DiscoveredMember[] = [];
  private synced = false;
  error: string | undefined;

  start(): void {
    this.started++;
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  /** members() calls: one per flush of the controller (each plans from the view). */
  reads = 0;
  members(): readonly DiscoveredMember[] {
    this.reads++;
    return this.view;
  }
  /** Replaces the view (as one Consul answer that arrived `ageMs` ago, if given) and emits update. */
  set(members: readonly Partial<DiscoveredMember>[], ageMs?: number): void {
    this.view = members.map((m) => member(m)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.synced = true;
    const u: MembershipUpdate = {
      service: "svc",
      index: 1,
      members: this.view,
      diff: { added: [], removed: [], changed: [], health: [] },
      ...(ageMs === undefined ? {} : { ageMs }),
    };
    this.emit("update", u);
  }
  /** Flips one member's health in the view (in an answer that arrived `ageMs` ago, if given). */
  health(id: string, healthy: boolean, ageMs?: number): void {
    this.set(
      this.view.map((m) => (m.id === id ? { ...m, healthy, status: healthy ? "passing" : "critical" } : m)),
      ageMs,
    );
  }
  status(): WatcherStatus {
    return {
      service: "svc",
      running: this.started > this.stopped,
      synced: this.synced,
      index: 1,
      members: this.view.length,
      healthyMembers: this.view.filter((m) => m.healthy).length,
      lastSuccessAt: undefined,
      lastError: this.error,
      lastErrorAt: undefined,
      consecutiveErrors: this.error === undefined ? 0 : 1,
      requests: 0,
      indexResets: 0,
    };
  }
}

export function member(m: Partial<DiscoveredMember>): DiscoveredMember {
  return {
    id: m.id ?? "x",
    address: m.address ?? "127.0.0.1",
    port: m.port ?? 9000,
    weight: m.weight ?? 1,
    status: m.status ?? (m.healthy === false ? "critical" : "passing"),
    healthy: m.healthy ?? true,
    node: m.node ?? "n1",
    tags: m.tags ?? [],
    meta: m.meta ?? {},
    draining: m.draining,
  };
}
