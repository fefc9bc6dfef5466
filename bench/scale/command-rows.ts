// The state-machine share of a reload, in process: what the reloader's proposal costs from
// the file's routing to the applied state (diff, encoding, validation, apply) when one
// member is added to or removed from a pool, as a PatchRouting against its peer, the whole
// SetRouting of the same file. Both leave the same state (test/config/routing-patch.test.ts);
// this row shows what each costs at a small and a large pool, on CPU time, which a loaded
// machine blurs less than wall time.

import { cpuUsage } from "node:process";
import { parseRouting } from "../../config/file/load.js";
import type { RoutingConfig } from "../../config/file/schema.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import { encodeCommand } from "../../config/state/commands.js";
import { routingPatch } from "../../config/state/routing-patch.js";
import { validateCommandOnce } from "../../config/state/validated-once.js";
import { median } from "./processes.js";

export interface CommandFigure {
  readonly members: number;
  /** Median CPU ms of encode + validate + apply of the whole SetRouting. */
  readonly setRoutingMs: number;
  /** Median CPU ms of diff + encode + validate + apply of the PatchRouting. */
  readonly patchMs: number;
  /** Bytes of each command (adding one member). */
  readonly setRoutingBytes: number;
  readonly patchBytes: number;
}

/** One ring pool of `members` members on 4 loopback addresses, routed by `x-key`. */
export function scaleRouting(members: number): RoutingConfig {
  const list = [];
  for (let i = 0; i < members; i++) list.push({ id: `m${i}`, address: `127.0.0.1:${20_000 + (i % 4)}` });
  const r = parseRouting({
    pools: { scale: { algorithm: "ring", members: list } },
    routes: [{ match: { pathPrefix: "/" }, pool: "scale", key: ["header:x-key"] }],
  });
  if (!r.ok) throw new Error(`bench routing does not validate: ${JSON.stringify(r.errors)}`);
  return r.routing;
}

const cpuMs = (t0: NodeJS.CpuUsage): number => {
  const d = cpuUsage(t0);
  return (d.user + d.system) / 1000;
};

/** One proposal of `bytes` as ClusterNode.propose makes it: validated once, then applied. */
function proposeAndApply(s: ClusterState, index: number, bytes: Uint8Array): void {
  const v = validateCommandOnce(bytes);
  if (!v.ok) throw new Error(v.error);
  const c = s.apply(index, bytes);
  if (!c.applied) throw new Error(`not applied: ${c.error}`);
}

export function measureCommands(sizes: readonly number[], repeats: number): CommandFigure[] {
  const out: CommandFigure[] = [];
  for (const size of sizes) {
    const files = [scaleRouting(size), scaleRouting(size + 1)];
    const full = new ClusterState();
    const patched = new ClusterState();
    full.apply(1, encodeCommand({ v: 1, type: "SetRouting", routing: files[0] }));
    patched.apply(1, encodeCommand({ v: 1, type: "SetRouting", routing: files[0] }));
    const fullMs: number[] = [];
    const patchMs: number[] = [];
    let setRoutingBytes = 0;
    let patchBytes = 0;
    // Interleaved, so both meet the same load; adding then removing the member.
    for (let r = 0; r < 2 * Math.max(repeats, 3); r++) {
      const next = files[(r + 1) % 2];
      let t0 = cpuUsage();
      const a = encodeCommand({ v: 1, type: "SetRouting", routing: next });
      proposeAndApply(full, r + 2, a);
      fullMs.push(cpuMs(t0));
      t0 = cpuUsage();
      const base = patched.current.routing;
      const patch = base === null ? null : routingPatch(base, next);
      if (patch === null) throw new Error("no patch for a one-member change");
      const b = encodeCommand(patch);
      proposeAndApply(patched, r + 2, b);
      patchMs.push(cpuMs(t0));
      if (r === 0) {
        setRoutingBytes = a.byteLength;
        patchBytes = b.byteLength;
      }
    }
    if (Buffer.compare(full.snapshot(), patched.snapshot()) !== 0)
      throw new Error(`the patched state differs from the SetRouting state at ${size} members`);
    out.push({
      members: size,
      setRoutingMs: median(fullMs),
      patchMs: median(patchMs),
      setRoutingBytes,
      patchBytes,
    });
  }
  return out;
}
