// Reading a cluster-state snapshot back: decode, check every field, and insist the bytes
// were already in normalized form, so a restored replica is byte-identical to the one that
// wrote the snapshot. Never throws; a bad snapshot is an error value.

import { z } from "zod";
import { errorText } from "../coded-error.js";
import { parseRouting } from "../file/load.js";
import { memberSchema, poolSchema, type RoutingConfig } from "../file/schema.js";
import { canonicalJson } from "./canonical-json.js";
import { BREAKER_OVERRIDES, BREAKER_STATES, MEMBER_SOURCES } from "./commands.js";
import type { ClusterStateData, MemberState, PoolState } from "./types.js";

const index = z.int().min(0);
const time = z.number().min(0).finite();

const memberState = z.strictObject({
  id: memberSchema.shape.id,
  address: memberSchema.shape.address,
  weight: z.int().min(1),
  source: z.enum(MEMBER_SOURCES),
  healthy: z.boolean(),
  drained: z.boolean(),
  breaker: z.strictObject({
    state: z.enum(BREAKER_STATES),
    since: time,
    until: time,
    trips: z.int().min(0),
    override: z.enum(BREAKER_OVERRIDES),
  }),
});

const routing = z.unknown().transform((value, ctx): RoutingConfig | null => {
  if (value === null) return null;
  const r = parseRouting(value);
  if (r.ok) return r.routing;
  for (const e of r.errors)
    ctx.issues.push({ code: "custom", message: `${e.path}: ${e.message}`, input: value });
  return z.NEVER;
});

const snapshotSchema = z.strictObject({
  format: z.literal("shardgate.cluster-state"),
  v: z.literal(1),
  appliedIndex: index,
  ringVersion: index,
  routing,
  pools: z.record(
    z.string(),
    z.strictObject({
      settings: poolSchema.omit({ members: true }),
      members: z.array(memberState),
      ringVersion: index,
    }),
  ),
});

const decoder = new TextDecoder("utf-8", { fatal: true });

type PersistedMember = Omit<MemberState, "draining"> & { drained: boolean };

/**
 * The snapshot's form of the state. A member's drain flag is `draining` in the state (the
 * admin API's word) but keeps the `drained` key snapshots were written with, so a snapshot
 * taken by an older instance restores here and the other way round.
 */
export function persistedForm(data: ClusterStateData): unknown {
  const pools: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(data.pools)) pools[name] = persistedPool(p);
  return { ...data, pools };
}

/** One pool in the snapshot's form (see persistedForm). */
export function persistedPool(p: PoolState): unknown {
  return {
    ...p,
    members: p.members.map(({ draining, ...m }): PersistedMember => ({ ...m, drained: draining })),
  };
}

function fromPersisted(data: z.infer<typeof snapshotSchema>): ClusterStateData {
  const pools: Record<string, PoolState> = {};
  for (const [name, p] of Object.entries(data.pools))
    pools[name] = {
      ...p,
      members: (p.members as PersistedMember[]).map(({ drained, ...m }) => ({ ...m, draining: drained })),
    } as PoolState;
  return { ...data, pools } as ClusterStateData;
}

export function restoreSnapshot(
  bytes: Uint8Array,
): { ok: true; data: ClusterStateData } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    return {
      ok: false,
      error: `snapshot is not UTF-8 JSON: ${errorText(err)}`,
    };
  }
  const r = snapshotSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    return { ok: false, error: `invalid snapshot: ${first.join("; ")}` };
  }
  if (canonicalJson(r.data) !== canonicalJson(raw)) {
    return { ok: false, error: "invalid snapshot: not in normalized form (written by a different version?)" };
  }
  const data = fromPersisted(r.data);
  if (data.ringVersion > data.appliedIndex) {
    return { ok: false, error: "invalid snapshot: ringVersion is after appliedIndex" };
  }
  for (const [name, pool] of Object.entries(data.pools)) {
    for (let i = 1; i < pool.members.length; i++) {
      if (!(pool.members[i - 1].id < pool.members[i].id)) {
        return {
          ok: false,
          error: `invalid snapshot: members of pool "${name}" are not sorted by unique id`,
        };
      }
    }
  }
  return { ok: true, data };
}
