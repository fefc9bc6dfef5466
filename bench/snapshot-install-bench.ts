// What installing a snapshot from the leader costs a follower's driver at a large pool: the
// envelope unwrapped and the cluster state checked on arrival (before the core may write it),
// then restored. The peer is the path the driver took before, which decoded the snapshot twice
// (validate() on arrival, restore() again at install); now decodeSnapshot() on arrival hands its
// value to restoreDecoded(). Both end in the same state (checked). Medians of interleaved runs.
//
//   npm run build && node dist/bench/snapshot-install-bench.js [members=5000] [repeats=15]

import { performance } from "node:perf_hooks";
import { cpuUsage } from "node:process";
import { unwrapSnapshot, wrapSnapshot } from "../config/raft/driver/envelope.js";
import { encodeCommand } from "../config/state/commands.js";
import { ClusterStateMachine } from "../config/state/state-machine.js";
import { runIfMain } from "./run-if-main.js";
import { scaleRouting } from "./scale/command-rows.js";

function snapshotOf(members: number): Uint8Array {
  const sm = new ClusterStateMachine({ onApply: () => {}, onRestore: () => {} });
  sm.apply({
    index: 1,
    term: 1,
    data: encodeCommand({ v: 1, type: "SetRouting", routing: scaleRouting(members) }),
  });
  return wrapSnapshot({ a: "127.0.0.1:1", b: "127.0.0.1:2" }, sm.snapshot(), {}, 3, "0123456789abcdef");
}

/** The driver before: validate() on arrival, then unwrap and restore() again at install. */
function installTwice(sm: ClusterStateMachine, data: Uint8Array): void {
  const why = sm.validate(unwrapSnapshot(data).state);
  if (why !== undefined) throw new Error(why);
  sm.restore(unwrapSnapshot(data).state);
}

/** The driver now: decoded on arrival, the decoded value restored. */
function installOnce(sm: ClusterStateMachine, data: Uint8Array): void {
  const r = sm.decodeSnapshot(unwrapSnapshot(data).state);
  if (!r.ok) throw new Error(r.error);
  sm.restoreDecoded(r.state);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(argv: string[]): Promise<number> {
  const members = Number(argv[0] ?? 5000);
  const repeats = Number(argv[1] ?? 15);
  const data = snapshotOf(members);
  const twice = new ClusterStateMachine({ onApply: () => {}, onRestore: () => {} });
  const once = new ClusterStateMachine({ onApply: () => {}, onRestore: () => {} });
  const wall = { twice: [] as number[], once: [] as number[] };
  const cpu = { twice: [] as number[], once: [] as number[] };
  for (let r = 0; r < repeats + 2; r++) {
    for (const [name, sm, f] of [
      ["twice", twice, installTwice],
      ["once", once, installOnce],
    ] as const) {
      const c0 = cpuUsage();
      const t0 = performance.now();
      f(sm, data);
      const ms = performance.now() - t0;
      const c = cpuUsage(c0);
      if (r >= 2) {
        wall[name].push(ms);
        cpu[name].push((c.user + c.system) / 1000);
      }
    }
  }
  if (Buffer.compare(Buffer.from(twice.snapshot()), Buffer.from(once.snapshot())) !== 0)
    throw new Error("the two paths restored different states");
  const mb = (data.byteLength / 2 ** 20).toFixed(2);
  console.log(`snapshot install, ${members} members (${mb} MiB), median of ${repeats} interleaved runs:`);
  console.log(
    `  decoded twice (peer: validate + restore):   wall ${median(wall.twice).toFixed(1)} ms, CPU ${median(cpu.twice).toFixed(1)} ms`,
  );
  console.log(
    `  decoded once (decodeSnapshot + restoreDecoded): wall ${median(wall.once).toFixed(1)} ms, CPU ${median(cpu.once).toFixed(1)} ms`,
  );
  console.log(
    `  ratio once/twice: wall ${(median(wall.once) / median(wall.twice)).toFixed(2)}, saved ${(median(wall.twice) - median(wall.once)).toFixed(1)} ms`,
  );
  return 0;
}

runIfMain(import.meta.url, run);
