// The standard fleet of the issue-5 end-to-end tests and the fleet bench: a Consul target
// (the in-process double, or a real agent when CONSUL_HTTP_ADDR is set), 4 real upstreams
// registered under one service, and 3 voter + 1 learner shardgate processes routing pool
// "users" from Consul and pool "catalog" from a static list over the same upstreams.
// startFleet() returns once every instance agrees on a leader, on the ring version, and on
// all 4 members being healthy in both pools.

import assert from "node:assert/strict";
import { FleetCluster, type FleetNode, summarizeState } from "../cluster-launcher.js";
import { type ConsulTarget, consulTarget } from "../consul/target.js";
import { seededRandom, seedNote } from "../prng.js";
import { CONDITION_DEADLINE_MS, scaled } from "../wait.js";
import type { RouteView, StateView } from "./admin-views.js";
import { fleetRoutingYaml } from "./fleet-config.js";
import { FleetUpstreams } from "./fleet-upstreams.js";
import { httpRequest, mapLimit, sleep } from "./http-client.js";

export interface FleetFixtureOptions {
  seed: number;
  /** Lines under pool "users" (4-space indent), e.g. a breaker section. */
  usersExtra?: string;
  /** Lines under pool "catalog" (4-space indent), e.g. a healthCheck section. */
  catalogExtra?: string;
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  accessLog?: boolean;
  level?: string;
  /** One config file shared by every instance, with --node-id / --data-dir (see FleetOptions). */
  sharedConfig?: boolean;
  /** Instance ids and how many of them (the first) are voters (default a,b,c,d with 3 voters). */
  ids?: readonly string[];
  voters?: number;
  /** Per-instance start deadline (default START_DEADLINE_MS; the fleet bench raises it). */
  startTimeoutMs?: number;
  /** Deadline for the fleet to agree after starting (default CONDITION_DEADLINE_MS; the fleet bench raises it). */
  convergeTimeoutMs?: number;
}

export interface Fleet {
  readonly seed: number;
  readonly random: () => number;
  readonly consul: ConsulTarget;
  readonly ups: FleetUpstreams;
  readonly cluster: FleetCluster;
  /** Appends the seed to an assertion message. */
  why(msg: string): string;
  close(): Promise<number[]>;
}

export const SERVICE = "users-api";

/** The suite's after(): closes the fleet (if it started) and fails if a shardgate process outlived it. */
export async function closeFleet(fleet: Fleet | undefined): Promise<void> {
  if (fleet === undefined) return;
  const left = await fleet.close();
  assert.deepEqual(left, [], "no shardgate process outlives the test");
}

export async function startFleet(o: FleetFixtureOptions): Promise<Fleet> {
  const consul = await consulTarget({ seed: o.seed });
  let ups: FleetUpstreams | undefined;
  let cluster: FleetCluster | undefined;
  try {
    // On a shared real agent, ids carry a seeded suffix so concurrent runs do not collide.
    const prefix = consul.kind === "agent" ? `e2e${o.seed}u` : "u";
    const service = consul.kind === "agent" ? `${SERVICE}-${o.seed}` : SERVICE;
    ups = await FleetUpstreams.start(consul, service, 4, prefix);
    const routingYaml = fleetRoutingYaml({
      service,
      staticMembers: ups.upstreams.map((u) => ({ id: u.id, port: u.port })),
      usersExtra: o.usersExtra,
      catalogExtra: o.catalogExtra,
    });
    cluster = await FleetCluster.start({
      consulAddress: consul.address,
      consulToken: consul.token,
      routingYaml,
      electionTimeoutMs: o.electionTimeoutMs,
      heartbeatMs: o.heartbeatMs,
      accessLog: o.accessLog,
      level: o.level,
      sharedConfig: o.sharedConfig,
      ids: o.ids,
      voters: o.voters,
      startTimeoutMs: o.startTimeoutMs,
    });
    const ids = ups.ids;
    await cluster.waitConverged({
      timeoutMs: o.convergeTimeoutMs ?? CONDITION_DEADLINE_MS,
      accept: (s) => allHealthy(s, "users", ids) && allHealthy(s, "catalog", ids),
    });
  } catch (err) {
    await cluster?.stop();
    await ups?.close();
    await consul.close();
    throw err;
  }
  const c = cluster;
  const u = ups;
  return {
    seed: o.seed,
    random: seededRandom(o.seed),
    consul,
    ups: u,
    cluster: c,
    why: (msg) => `${msg} (${seedNote(o.seed)})`,
    async close() {
      const left = await c.stop();
      await u.close();
      await consul.close();
      return left;
    },
  };
}

/** `pool` has exactly the members `ids`, every one healthy, not drained, breaker closed. */
export function allHealthy(s: StateView, pool: string, ids: readonly string[]): boolean {
  const p = s.pools[pool];
  if (p === undefined || p.members.length !== ids.length) return false;
  return p.members.every((m) => ids.includes(m.id) && m.healthy && !m.draining && m.breaker === "closed");
}

export function member(s: StateView, pool: string, id: string) {
  return s.pools[pool]?.members.find((m) => m.id === id);
}

export interface RouteTable {
  ringVersion: number;
  /** key -> member a request goes to now. */
  members: Map<string, string | null>;
  /** key -> ring owner. */
  owners: Map<string, string | null>;
}

/**
 * Route explanations of `keys` from every given instance; throws (with the first differences
 * and the seed) unless every instance answers every key with the same member at one ring version.
 */
export async function agreedRoutes(
  fleet: Fleet,
  nodes: readonly FleetNode[],
  pool: string,
  keys: readonly string[],
): Promise<RouteTable> {
  // The instances are asked one after another, so an entry committed meanwhile (a breaker or
  // health change) can show two ring versions: ask again until one version answers everywhere
  // (bounded). At one version, any difference is a real disagreement and fails at once.
  const deadline = Date.now() + scaled(AGREE_WITHIN_MS);
  for (;;) {
    const per = await mapLimit(nodes, 2, (n) => fleet.cluster.routes(n, pool, keys));
    const ref = per[0];
    const versions = new Set<number>();
    const diffs: string[] = [];
    for (let ni = 0; ni < nodes.length; ni++) {
      const rs = per[ni];
      for (let i = 0; i < keys.length; i++) {
        versions.add(rs[i].ringVersion);
        if (rs[i].member !== ref[i].member && diffs.length < 10)
          diffs.push(`${keys[i]}: ${nodes[0].id}->${ref[i].member} ${nodes[ni].id}->${rs[i].member}`);
      }
    }
    if (versions.size === 1 && diffs.length === 0)
      return {
        ringVersion: ref[0].ringVersion,
        members: new Map(keys.map((k, i) => [k, ref[i].member])),
        owners: new Map(keys.map((k, i) => [k, ref[i].owner])),
      };
    if (versions.size === 1 || Date.now() > deadline)
      throw new Error(
        fleet.why(
          `instances ${nodes.map((n) => n.id).join(",")} disagree on pool ${pool}: ring versions seen ${[...versions].join(",")}; differences: ${diffs.join(" | ")}`,
        ),
      );
    await sleep(100);
  }
}

/** How long agreedRoutes asks again while the instances answer at different ring versions. */
const AGREE_WITHIN_MS = 30_000;

/** The keys of `table` routed to `id`. */
export function keysOf(table: RouteTable, id: string): string[] {
  const out: string[] = [];
  for (const [k, m] of table.members) if (m === id) out.push(k);
  return out;
}

/** A keyed GET through an instance's proxy listener; returns status, echoed member and ring header. */
export async function keyedGet(
  n: FleetNode,
  key: string,
  path = "/e2e",
): Promise<{ status: number; member: string | undefined; ringVersion: string | undefined; text: string }> {
  const r = await httpRequest(`${n.httpUrl}${path}`, { headers: { "x-user-id": key }, timeoutMs: 5_000 });
  const m = (r.body as { member?: unknown } | undefined)?.member;
  const rv = r.headers["x-shardgate-ring-version"];
  return {
    status: r.status,
    member: typeof m === "string" ? m : undefined,
    ringVersion: typeof rv === "string" ? rv : undefined,
    text: r.text.slice(0, 300),
  };
}

export function describeStates(states: Map<string, StateView>): string {
  return [...states].map(([id, s]) => `${id}: ${summarizeState(s)}`).join("\n");
}

/**
 * Polls every instance until `pred` holds for all, recording each ring version of `pool` seen
 * while `pred` held for that instance: so a test can check a change took effect at ONE version.
 * (The pool's version, not the global one: another pool's change in the meantime is not this one.)
 */
export async function waitAllRecording(
  fleet: Fleet,
  what: string,
  pool: string,
  pred: (s: StateView) => boolean,
  timeoutMs: number,
  nodes: readonly FleetNode[] = fleet.cluster.live(),
): Promise<{ states: Map<string, StateView>; versionsWhileTrue: Set<number>; elapsedMs: number }> {
  const t0 = performance.now();
  const versionsWhileTrue = new Set<number>();
  let last = new Map<string, StateView>();
  const budget = scaled(timeoutMs);
  while (performance.now() - t0 < budget) {
    last = await fleet.cluster.states(nodes);
    for (const s of last.values()) {
      if (pred(s)) {
        versionsWhileTrue.add(s.pools[pool]?.ringVersion ?? -1);
      }
    }
    if ([...last.values()].every(pred))
      return { states: last, versionsWhileTrue, elapsedMs: performance.now() - t0 };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(fleet.why(`timed out after ${budget}ms waiting for ${what}:\n${describeStates(last)}`));
}

export type { RouteView, StateView };
