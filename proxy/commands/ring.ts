// `shardgate ring simulate`: how evenly a table spreads keys over members and how many
// keys move when members are added or removed, for choosing an algorithm, point count,
// table size or balance factor before touching a live pool. Everything is seeded.

import { parseArgs } from "node:util";
import { printableLine } from "../../config/printable.js";
import {
  boundedLoadPerMember,
  idealMovedFraction,
  keysPerMember,
  type LoadStats,
  loadStats,
  movedFraction,
} from "../../ring/analysis.js";
import { withBoundedLoad } from "../../ring/bounded-load.js";
import { buildTable } from "../../ring/build.js";
import { DEFAULT_MAGLEV_TABLE_SIZE, MAX_MAGLEV_TABLE_SIZE } from "../../ring/maglev.js";
import { randomKeyHashes } from "../../ring/random.js";
import { RingConfigError } from "../../ring/ring-error.js";
import { DEFAULT_POINTS_PER_WEIGHT } from "../../ring/ring-hash.js";
import type { HashTable, RingMember } from "../../ring/types.js";
import { flagErrorText } from "../app/command-flags.js";
import { outputFailed, printOut } from "../app/std-streams.js";
import { UsageError } from "./usage-error.js";

const USAGE = `usage: shardgate ring simulate [options]

  --members N           pool size, members m0..m(N-1) (default: one per --weights entry, else 10)
  --keys N              random 16-character keys to place (default 1000000)
  --algorithm A         ring | maglev (default ring)
  --points N            ring hash points per unit of weight (default ${DEFAULT_POINTS_PER_WEIGHT})
  --table-size P        Maglev table size, a prime (default ${DEFAULT_MAGLEV_TABLE_SIZE})
  --weights W,W,...     one integer weight >= 1 per member (default all 1)
  --add K               also build with K more members and report keys moved
  --remove K            also build without the last K members and report keys moved
  --balance-factor F    place keys as in-flight load with bounded load (F >= 1.0)
  --seed N              key seed (default 1)
  --json                print one JSON object`;

export interface SimulateOptions {
  members: number;
  keys: number;
  algorithm: "ring" | "maglev";
  points: number;
  tableSize: number;
  weights: number[];
  add: number;
  remove: number;
  balanceFactor: number | undefined;
  seed: number;
  json: boolean;
}

export interface SimulateResult {
  algorithm: string;
  members: number;
  keys: number;
  seed: number;
  points?: number;
  tableSize?: number;
  balanceFactor?: number;
  load: LoadStats;
  unboundedLoad?: LoadStats;
  /** With unequal weights: stats of keys per unit of weight (what balance means then). */
  loadPerWeight?: LoadStats;
  perMember: { id: string; weight: number; keys: number }[];
  moved?: { change: string; membersAfter: number; fraction: number; ideal: number; ratio: number };
}

function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got "${raw}"`);
  }
  return v;
}

export function parseSimulateArgs(argv: string[]): SimulateOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError(flagErrorText(err));
  }
  const { values, positionals } = parsed;
  if (positionals[0] !== "simulate" || positionals.length > 1) {
    throw new UsageError(
      positionals.length === 0 ? "missing subcommand" : `unknown subcommand "${positionals.join(" ")}"`,
    );
  }
  // Without --members, --weights says how many there are.
  const weightCount = values.weights?.split(",").length;
  const members = intFlag("members", values.members, weightCount ?? 10, 1, 100_000);
  const algorithm = values.algorithm ?? "ring";
  if (algorithm !== "ring" && algorithm !== "maglev") {
    throw new UsageError(`--algorithm must be "ring" or "maglev", got "${algorithm}"`);
  }
  if (values.points !== undefined && algorithm !== "ring")
    throw new UsageError("--points applies to --algorithm ring");
  if (values["table-size"] !== undefined && algorithm !== "maglev") {
    throw new UsageError("--table-size applies to --algorithm maglev");
  }
  if (values.add !== undefined && values.remove !== undefined)
    throw new UsageError("use --add or --remove, not both");
  let weights = new Array<number>(members).fill(1);
  if (values.weights !== undefined) {
    const parts = values.weights.split(",");
    if (parts.length !== members) {
      throw new UsageError(`--weights has ${parts.length} entries but --members is ${members}`);
    }
    weights = parts.map((p, i) => intFlag(`weights[${i}]`, p, 1, 1, 1_000_000));
  }
  let balanceFactor: number | undefined;
  if (values["balance-factor"] !== undefined) {
    balanceFactor = Number(values["balance-factor"]);
    if (!Number.isFinite(balanceFactor) || balanceFactor < 1 || values["balance-factor"].trim() === "") {
      throw new UsageError(`--balance-factor must be a number >= 1.0, got "${values["balance-factor"]}"`);
    }
  }
  return {
    members,
    keys: intFlag("keys", values.keys, 1_000_000, 1, 50_000_000),
    algorithm,
    points: intFlag("points", values.points, DEFAULT_POINTS_PER_WEIGHT, 1, 100_000),
    tableSize: intFlag(
      "table-size",
      values["table-size"],
      DEFAULT_MAGLEV_TABLE_SIZE,
      2,
      MAX_MAGLEV_TABLE_SIZE,
    ),
    weights,
    add: intFlag("add", values.add, 0, 1, 100_000),
    remove: intFlag("remove", values.remove, 0, 1, members - 1),
    balanceFactor,
    seed: intFlag("seed", values.seed, 1, 0, 0xffffffff),
    json: values.json ?? false,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      members: { type: "string" },
      keys: { type: "string" },
      algorithm: { type: "string" },
      points: { type: "string" },
      "table-size": { type: "string" },
      weights: { type: "string" },
      add: { type: "string" },
      remove: { type: "string" },
      "balance-factor": { type: "string" },
      seed: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** Runs the simulation; throws RingConfigError if the tables reject the options. */
export function simulate(o: SimulateOptions): SimulateResult {
  const params = o.algorithm === "ring" ? { pointsPerWeight: o.points } : { tableSize: o.tableSize };
  const build = (ms: RingMember[]): HashTable =>
    buildTable({ algorithm: o.algorithm, members: ms, ...params });
  const members = o.weights.map((weight, i) => ({ id: `m${i}`, weight }));
  const table = build(members);
  const bounded =
    o.balanceFactor === undefined ? undefined : withBoundedLoad(table, { balanceFactor: o.balanceFactor });
  const hashes = randomKeyHashes(o.seed, o.keys);
  const plain = keysPerMember(table, hashes);
  const counts = bounded === undefined ? plain : boundedLoadPerMember(bounded, hashes);
  const result: SimulateResult = {
    algorithm: (bounded ?? table).algorithm,
    members: o.members,
    keys: o.keys,
    seed: o.seed,
    ...(o.algorithm === "ring" ? { points: o.points } : { tableSize: o.tableSize }),
    ...(o.balanceFactor === undefined ? {} : { balanceFactor: o.balanceFactor }),
    load: loadStats(counts),
    ...(o.balanceFactor === undefined ? {} : { unboundedLoad: loadStats(plain) }),
    ...(o.weights.every((w) => w === o.weights[0])
      ? {}
      : { loadPerWeight: loadStats(Array.from(counts, (c, i) => c / table.members[i].weight)) }),
    perMember: table.members.map((m, i) => ({ id: m.id, weight: m.weight, keys: counts[i] })),
  };
  if (o.add > 0 || o.remove > 0) {
    const after =
      o.add > 0
        ? [...members, ...Array.from({ length: o.add }, (_, i) => ({ id: `m${o.members + i}`, weight: 1 }))]
        : members.slice(0, o.members - o.remove);
    const fraction = movedFraction(table, build(after), hashes);
    const ideal = idealMovedFraction(members, after);
    result.moved = {
      change: o.add > 0 ? `+${o.add}` : `-${o.remove}`,
      membersAfter: after.length,
      fraction,
      ideal,
      ratio: ideal === 0 ? 0 : fraction / ideal,
    };
  }
  return result;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

export function formatResult(r: SimulateResult): string {
  const lines: string[] = [];
  const params = r.points !== undefined ? `points/weight=${r.points}` : `table-size=${r.tableSize}`;
  lines.push(`${r.algorithm}: ${r.members} members, ${r.keys} keys, ${params}, seed=${r.seed}`);
  const row = (label: string, s: LoadStats): string =>
    `  ${label.padEnd(12)}${[s.min, s.mean.toFixed(1), s.max, s.stddev.toFixed(1), s.maxOverMean.toFixed(4)]
      .map((v) => String(v).padStart(12))
      .join("")}`;
  lines.push(
    `  ${"keys/member".padEnd(12)}${["min", "mean", "max", "stddev", "max/mean"].map((h) => h.padStart(12)).join("")}`,
  );
  if (r.unboundedLoad !== undefined) {
    lines.push(row("unbounded", r.unboundedLoad));
    lines.push(row(`bounded ${r.balanceFactor}`, r.load));
  } else {
    lines.push(row("load", r.load));
  }
  if (r.loadPerWeight !== undefined) lines.push(row("per weight", r.loadPerWeight));
  if (r.perMember.length <= 20) {
    const total = r.perMember.reduce((s, m) => s + m.weight, 0);
    for (const m of r.perMember) {
      const expected = (m.weight / total) * r.keys;
      const dev = expected === 0 ? 0 : (m.keys - expected) / expected;
      lines.push(
        `  ${m.id.padEnd(8)} weight ${String(m.weight).padStart(3)}  ${String(m.keys).padStart(10)} keys  ${pct(m.keys / r.keys).padStart(7)}  ${dev >= 0 ? "+" : ""}${(dev * 100).toFixed(2)}% vs weight share`,
      );
    }
  }
  if (r.moved !== undefined) {
    lines.push(
      `  ${r.moved.change} member(s) -> ${r.moved.membersAfter}: moved ${pct(r.moved.fraction)} of keys, ideal ${pct(r.moved.ideal)}, ratio ${r.moved.ratio.toFixed(3)}`,
    );
  }
  const hint = sizeHint(r);
  if (hint !== null) lines.push(`  hint: ${hint}`);
  return lines.join("\n");
}

/** Above this many members a ring's points outgrow the CPU caches and Maglev is the better table. */
export const LARGE_POOL_MEMBERS = 2000;

/** Which table suits a pool this big, when the simulated one does not (null when it does). */
export function sizeHint(
  r: Pick<SimulateResult, "algorithm" | "members" | "points" | "tableSize">,
): string | null {
  const slots = Math.max(65537, r.members * 100);
  if (r.algorithm === "ring" && r.members > LARGE_POOL_MEMBERS) {
    const points = r.members * (r.points ?? 160);
    return (
      // 8 bytes a point: its owner and the packed lookup entry (ring/ring-hash.ts).
      `${r.members} members make ${points} ring points (${((points * 8) / 2 ** 20).toFixed(0)} MB to build and search): ` +
      `lookups read them out of main memory and run several times slower than a small ring's; ` +
      `for pools this big use --algorithm maglev with a prime --table-size of at least ${slots} ` +
      `(100 x members, 2 bytes a slot up to 65,535 members: one read per lookup), or fewer --points`
    );
  }
  if (r.algorithm === "maglev" && r.tableSize !== undefined && r.tableSize < r.members * 100) {
    return `table-size ${r.tableSize} is under 100 x members: balance suffers; use a prime of at least ${slots}`;
  }
  return null;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h") || argv[0] === "help") {
    console.log(USAGE);
    return 0;
  }
  let options: SimulateOptions;
  try {
    options = parseSimulateArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`shardgate ring: ${printableLine(err.message)}\n\n${USAGE}`);
    return 2;
  }
  let result: SimulateResult;
  try {
    result = simulate(options);
  } catch (err) {
    if (!(err instanceof RingConfigError)) throw err;
    console.error(`shardgate ring: ${err.message}`);
    return 2;
  }
  const failed = await printOut(options.json ? JSON.stringify(result) : formatResult(result));
  if (failed === undefined) return 0;
  console.error(outputFailed("ring", failed));
  return 1;
}
