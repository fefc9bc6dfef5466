// How the proxy and scale benches turn noisy rounds into a verdict, the same way for every
// target (README "How the benches measure"):
// - every round measures every target once, in alternating order (forward, then reversed:
//   for a pair A, B that is A B | B A | A B ..., so neither side always runs first);
// - each round's pair ratio (A/B, both measured in that round) is one vote; the verdict per
//   target is "met in k of n clean rounds" next to the median of the per-round ratios, and the
//   old figure (ratio of the per-target medians over all rounds) is printed beside it;
// - a round is "disturbed" when, during any target's run in it, processes outside the bench used
//   more than `maxOtherCores`, or the hypervisor stole more than `maxStealCores`, or the control
//   (a target that is neither side, e.g. nginx direct) moved more than `controlBand` from its
//   median, or the CPU-speed probe (cpu-speed.ts) saw the two sides' runs at speeds more than
//   `speedBand` apart (a vCPU running slower for a while: /proc shows nothing of it). A
//   disturbed round is printed with its reason and kept in the "all rounds" figures; the bench
//   runs another round for it, up to `maxReruns` extra rounds. The rules look at the machine,
//   the probe and the control only, never at either side's own figures.

import { speedText } from "./cpu-speed.js";
import type { RoundLoad } from "./machine-load.js";
import { type MedianInterval, medianInterval } from "./median-interval.js";

export interface MethodOptions {
  readonly maxOtherCores: number;
  /** Most the outside CPU may differ between two runs of one round (what tilts a pair). */
  readonly maxOtherSpread: number;
  readonly maxStealCores: number;
  /** Relative band around the control's median req/s (0.1 = +-10 %); ignored without a control. */
  readonly controlBand: number;
  /**
   * Most the CPU speed may differ between the two sides' runs of a round, as faster/slower - 1
   * (0.25: one side's run saw the CPUs 25 % faster); ignored without a probe.
   */
  readonly speedBand: number;
  readonly maxReruns: number;
  /** Fewest clean rounds a verdict rests on; below it the bench says so instead. */
  readonly minClean: number;
}

export const DEFAULT_METHOD: MethodOptions = {
  maxOtherCores: 1.5,
  maxOtherSpread: 0.2,
  maxStealCores: 0.05,
  controlBand: 0.15,
  speedBand: 0.25,
  maxReruns: 4,
  minClean: 3,
};

export interface Sample {
  readonly rps: number;
  readonly p99ms: number;
  /** CPU time of the measured process per request, microseconds. */
  readonly cpuUsPerReq: number;
  readonly load: RoundLoad;
}

export interface Round<S extends Sample> {
  readonly round: number;
  /** The order of the targets' (first) runs; a mirrored round ran it and then it backwards. */
  readonly order: readonly string[];
  /** Every target ran twice, A B C C B A, and its sample merges the two (runRounds' `merge`). */
  readonly mirrored?: boolean;
  readonly samples: Map<string, S>;
  /** Why the round is disturbed (empty: clean); recomputed when rounds are added. */
  why: string[];
}

/**
 * Forward on even rounds, reversed on odd ones; with three or more targets the list is also
 * rotated by one every two rounds, so every target takes every place in turn (three targets:
 * all six orders in six rounds). Reversal alone left the middle target always in the middle.
 */
export function roundOrder(names: readonly string[], round: number): string[] {
  const n = names.length;
  const turn = n > 2 ? Math.floor(round / 2) % n : 0;
  const order = [...names.slice(turn), ...names.slice(0, turn)];
  return round % 2 === 0 ? order : order.reverse();
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The two sides' run speeds in `r` more than the band apart: why, or null. Symmetric in a, b. */
function speedSpread<S extends Sample>(r: Round<S>, names: readonly string[], band: number): string | null {
  const runs = names.flatMap((n) => {
    const v = r.samples.get(n)?.load.cpuSpeed?.speed;
    return v === undefined || !Number.isFinite(v) ? [] : [[n, v] as const];
  });
  if (runs.length < 2) return null;
  runs.sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : 1));
  const [lo, hi] = [runs[0], runs[runs.length - 1]];
  if (hi[1] / lo[1] - 1 <= band) return null;
  return `CPU speed uneven: ${hi[1].toFixed(2)} during ${hi[0]}, ${lo[1].toFixed(2)} during ${lo[0]} (band ${(100 * band).toFixed(0)} %)`;
}

/**
 * Sets `why` of every round from the machine figures, the CPU-speed probe and the control's
 * band. `sides`: the pairs whose runs the speed rule compares (default: all runs of a round).
 */
export function flagRounds<S extends Sample>(
  rounds: Array<Round<S>>,
  o: MethodOptions,
  control?: string,
  sides?: ReadonlyArray<readonly [string, string]>,
): void {
  const controlMedian =
    control === undefined ? Number.NaN : median(rounds.map((r) => r.samples.get(control)?.rps ?? Number.NaN));
  for (const r of rounds) {
    r.why = [];
    for (const [name, s] of r.samples) {
      if (s.load.otherCores > o.maxOtherCores)
        r.why.push(
          `outside CPU ${s.load.otherCores.toFixed(2)} cores during ${name}${s.load.topOthers === "" ? "" : ` (${s.load.topOthers})`}`,
        );
      if (s.load.stealCores > o.maxStealCores)
        r.why.push(`steal ${s.load.stealCores.toFixed(2)} cores during ${name}`);
    }
    const outs = [...r.samples].map(([n, s]) => [n, s.load.otherCores] as const).sort((x, y) => x[1] - y[1]);
    if (outs.length > 1) {
      const [lo, hi] = [outs[0], outs[outs.length - 1]];
      if (hi[1] - lo[1] > o.maxOtherSpread)
        r.why.push(
          `outside CPU uneven: ${hi[1].toFixed(2)} cores during ${hi[0]}, ${lo[1].toFixed(2)} during ${lo[0]}`,
        );
    }
    for (const names of sides ?? [[...r.samples.keys()]]) {
      const why = speedSpread(r, names, o.speedBand);
      if (why !== null) r.why.push(why);
    }
    const c = control === undefined ? undefined : r.samples.get(control);
    if (c !== undefined && Number.isFinite(controlMedian)) {
      const off = c.rps / controlMedian - 1;
      if (Math.abs(off) > o.controlBand)
        r.why.push(
          `control ${control} ${c.rps.toFixed(0)} req/s, ${(100 * off).toFixed(0)} % from its median ${controlMedian.toFixed(0)}`,
        );
    }
  }
}

/**
 * Runs `rounds` rounds, then one more per disturbed round while fewer than `rounds` are clean,
 * up to `o.maxReruns` extra. `measure` runs one target once and returns its sample.
 *
 * With `merge`, every round is mirrored: its order and then the same order backwards (A B C C B
 * A), each target's sample merging its two runs. Alternating the order between rounds balances
 * the order over a whole run but not within a round, and the verdict counts rounds: in the scale
 * bench's request rows (10,000 keys, two quiet runs) the first place of a round cost 1.03-1.09x
 * its target's median CPU per request and the last 0.95-0.99x, and a pair's ratio was 0.81-0.92x
 * in the rounds where the larger pool ran first against 1.09-1.14x where it ran second: with
 * the order swinging each round's ratio by that much, "met in a majority of rounds" was a coin
 * toss for two sizes whose medians were the same. In a
 * mirrored round each target's two places add up to the same sum, so a place effect that grows
 * or shrinks steadily over the round costs every target alike.
 */
export async function runRounds<S extends Sample>(
  names: readonly string[],
  rounds: number,
  o: MethodOptions,
  control: string | undefined,
  measure: (name: string, round: number) => Promise<S>,
  say: (line: string) => void,
  sides?: ReadonlyArray<readonly [string, string]>,
  merge?: (first: S, second: S) => S,
): Promise<Array<Round<S>>> {
  const out: Array<Round<S>> = [];
  const runOne = async (i: number): Promise<void> => {
    const order = roundOrder(names, i);
    const samples = new Map<string, S>();
    for (const n of merge === undefined ? order : [...order, ...[...order].reverse()]) {
      const s = await measure(n, i);
      const first = samples.get(n);
      samples.set(n, first === undefined || merge === undefined ? s : merge(first, s));
    }
    out.push({ round: i + 1, order, samples, why: [], mirrored: merge !== undefined });
  };
  for (let i = 0; i < rounds; i++) await runOne(i);
  flagRounds(out, o, control, sides);
  let extra = 0;
  while (extra < o.maxReruns && out.filter((r) => r.why.length === 0).length < rounds) {
    const disturbed = out.filter((r) => r.why.length > 0).length;
    say(
      `  ${disturbed} disturbed round(s): running round ${out.length + 1} (extra ${extra + 1} of at most ${o.maxReruns})`,
    );
    await runOne(out.length);
    flagRounds(out, o, control, sides);
    extra++;
  }
  return out;
}

export interface Goal {
  readonly metric: "rps" | "p99ms" | "cpuUsPerReq";
  readonly label: string;
  readonly op: ">=" | "<=";
  readonly limit: number;
}

export const RPS_P99_CPU = (rps: number, p99?: number, cpu?: number): Goal[] => [
  { metric: "rps", label: "req/s", op: ">=", limit: rps },
  ...(p99 === undefined ? [] : [{ metric: "p99ms" as const, label: "p99", op: "<=" as const, limit: p99 }]),
  ...(cpu === undefined
    ? []
    : [{ metric: "cpuUsPerReq" as const, label: "cpu/request", op: "<=" as const, limit: cpu }]),
];

export interface GoalVerdict {
  readonly pair: string;
  readonly goal: string;
  readonly target: Goal;
  readonly clean: number;
  readonly metClean: number;
  readonly all: number;
  readonly metAll: number;
  /** Median of the per-round ratios over the clean rounds (the new figure). */
  readonly medianOfRatiosClean: number;
  readonly medianOfRatiosAll: number;
  /** Ratio of the two sides' medians over all rounds (the old figure). */
  readonly ratioOfMediansAll: number;
  readonly ratioOfMediansClean: number;
  /** Median ratio in rounds where `a` ran before `b` and after it (the order effect). */
  readonly aFirst: number;
  readonly bFirst: number;
  /**
   * A ~90 % interval for the median of the clean rounds' ratios (median-interval.ts). When it
   * holds the goal's limit, the machine's noise is wider than the gap and the verdict says so.
   */
  readonly intervalClean: MedianInterval;
  /** At least `minClean` clean rounds: a verdict is given. */
  readonly enough: boolean;
  /** The verdict on the clean rounds: a majority of them met the goal. */
  readonly met: boolean;
}

function holds(g: Goal, ratio: number): boolean {
  return g.op === ">=" ? ratio >= g.limit : ratio <= g.limit;
}

/** One verdict per goal for a/b over the rounds in which both ran. */
export function pairVerdicts<S extends Sample>(
  rounds: ReadonlyArray<Round<S>>,
  a: string,
  b: string,
  goals: readonly Goal[],
  minClean = DEFAULT_METHOD.minClean,
): GoalVerdict[] {
  const both = rounds.filter((r) => r.samples.has(a) && r.samples.has(b));
  const clean = both.filter((r) => r.why.length === 0);
  return goals.map((g) => {
    const ratio = (r: Round<S>) => (r.samples.get(a) as S)[g.metric] / (r.samples.get(b) as S)[g.metric];
    const rom = (rs: ReadonlyArray<Round<S>>) =>
      median(rs.map((r) => (r.samples.get(a) as S)[g.metric])) /
      median(rs.map((r) => (r.samples.get(b) as S)[g.metric]));
    const metClean = clean.filter((r) => holds(g, ratio(r))).length;
    const aFirst = both.filter((r) => r.order.indexOf(a) < r.order.indexOf(b));
    return {
      pair: `${a}/${b}`,
      goal: `${g.label} ${g.op} ${g.limit.toFixed(2)}x`,
      target: g,
      clean: clean.length,
      metClean,
      all: both.length,
      metAll: both.filter((r) => holds(g, ratio(r))).length,
      medianOfRatiosClean: median(clean.map(ratio)),
      intervalClean: medianInterval(clean.map(ratio)),
      medianOfRatiosAll: median(both.map(ratio)),
      ratioOfMediansAll: rom(both),
      ratioOfMediansClean: rom(clean),
      aFirst: median(aFirst.map(ratio)),
      bFirst: median(both.filter((r) => !aFirst.includes(r)).map(ratio)),
      enough: clean.length >= minClean,
      met: clean.length >= minClean && 2 * metClean > clean.length,
    };
  });
}

const f2 = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "-");

/** The interval as "0.91-1.04x (93 %)", or "-" without one. */
function intervalText(i: MedianInterval): string {
  return i.coverage === 0 ? "-" : `${i.lo.toFixed(2)}-${f2(i.hi)} (${(100 * i.coverage).toFixed(0)} %)`;
}

/**
 * Whether the verdict is firm: the whole interval on the verdict's side of the goal's limit.
 * Otherwise the rounds' spread holds the limit, and another run on this machine could go the
 * other way; the bench prints "within the noise" rather than let a coin toss read as a result.
 */
export function firm(v: GoalVerdict, g: Goal): boolean {
  const { lo, hi } = v.intervalClean;
  const passes = (x: number) => holds(g, x);
  return v.intervalClean.coverage > 0 && passes(lo) === v.met && passes(hi) === v.met;
}

function verdictWord(v: GoalVerdict, o: MethodOptions): string {
  if (v.clean === 0) return "NO CLEAN ROUND";
  if (!v.enough) return `TOO FEW CLEAN ROUNDS (< ${o.minClean})`;
  const word = v.met ? "MET" : "NOT MET";
  return firm(v, v.target) ? word : `${word}, within the noise`;
}

/** The method, the disturbed rounds and why, and one line per goal. */
export function verdictLines<S extends Sample>(
  rounds: ReadonlyArray<Round<S>>,
  verdicts: readonly GoalVerdict[],
  o: MethodOptions,
  control: string | undefined,
): string[] {
  const each = rounds.some((r) => r.mirrored)
    ? "every target twice per round, mirrored (A B C C B A; its figure merges its two runs), the order alternating between rounds (forward, reversed, ...; three or more targets also rotated so each takes every place)"
    : "every target once per round in alternating order (forward, reversed, ...; three or more targets also rotated so each takes every place)";
  const lines = [
    `method: ${rounds.length} rounds, ${each}; ` +
      `a round is disturbed when outside CPU > ${o.maxOtherCores} cores or steal > ${o.maxStealCores} cores during any target's run, ` +
      `or the outside CPU differs by > ${o.maxOtherSpread} cores between two of its runs` +
      (probed(rounds)
        ? `, or the CPU-speed probe saw the two sides' runs more than ${(100 * o.speedBand).toFixed(0)} % apart`
        : "") +
      (control === undefined
        ? ""
        : `, or the control ${control} is more than ${(100 * o.controlBand).toFixed(0)} % from its median`) +
      `; up to ${o.maxReruns} extra rounds for disturbed ones; a verdict needs ${o.minClean} clean rounds and a majority of them, and is "within the noise" when the interval of the median pair ratio (order statistics, ~90 %) holds the limit; nothing dropped: all-round figures printed too`,
  ];
  const disturbed = rounds.filter((r) => r.why.length > 0);
  lines.push(`disturbed rounds: ${disturbed.length} of ${rounds.length}`);
  for (const r of disturbed) lines.push(`  round ${r.round}: ${r.why.join("; ")}`);
  if (probed(rounds)) lines.push(speedSummary(rounds));
  lines.push(
    "verdict                              clean rounds  median of   interval of the     ratio of    | all rounds  median of   ratio of     | order: a first  b first",
  );
  lines.push(
    "                                     met k of n    pair ratios median (coverage)   medians     | met k of n  pair ratios medians(old) |",
  );
  for (const v of verdicts)
    lines.push(
      `  ${`${v.pair} ${v.goal}`.padEnd(35)} ${`${v.metClean} of ${v.clean}`.padStart(8)}  ${f2(v.medianOfRatiosClean).padStart(9)}   ${intervalText(v.intervalClean).padEnd(18)} ${f2(v.ratioOfMediansClean).padStart(8)}    | ${`${v.metAll} of ${v.all}`.padStart(8)}  ${f2(v.medianOfRatiosAll).padStart(9)} ${f2(v.ratioOfMediansAll).padStart(10)}    | ${f2(v.aFirst).padStart(8)} ${f2(v.bFirst).padStart(8)}  ${verdictWord(v, o)}`,
    );
  return lines;
}

function probed<S extends Sample>(rounds: ReadonlyArray<Round<S>>): boolean {
  return rounds.some((r) => [...r.samples.values()].some((x) => x.load.cpuSpeed !== null));
}

/** The probe's figures over all runs: each target's median and range, and the rounds it flagged. */
export function speedSummary<S extends Sample>(rounds: ReadonlyArray<Round<S>>): string {
  const by = new Map<string, number[]>();
  for (const r of rounds)
    for (const [n, x] of r.samples) {
      const v = x.load.cpuSpeed?.speed;
      if (v !== undefined && Number.isFinite(v)) by.set(n, [...(by.get(n) ?? []), v]);
    }
  const parts = [...by].map(
    ([n, v]) => `${n} ${median(v).toFixed(2)} (${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})`,
  );
  const flagged = rounds.filter((r) => r.why.some((w) => w.startsWith("CPU speed"))).length;
  return `CPU speed per run (probe, 1.00 = calibration at start; median and range): ${parts.join(", ")}; rounds flagged by it: ${flagged} of ${rounds.length}`;
}

/** One line per target run: the figures and what the machine did meanwhile. */
export function roundLine(round: number, name: string, s: Sample, extra = ""): string {
  const l = s.load;
  return `  round ${String(round).padStart(2)} ${name.padEnd(15)} ${s.rps.toFixed(0).padStart(7)} req/s  p99 ${s.p99ms.toFixed(2).padStart(6)} ms  cpu ${s.cpuUsPerReq.toFixed(0).padStart(4)} us/req  speed ${speedText(l.cpuSpeed).padStart(4)}${extra}  | outside ${l.otherCores.toFixed(2)} cores (${l.higherPriorityCores.toFixed(2)} at a lower nice), bench ${l.benchCores.toFixed(2)}, steal ${l.stealCores.toFixed(2)}, load ${l.load1Before.toFixed(1)}->${l.load1After.toFixed(1)}${l.cpuSpeed === null ? "" : `, CPUs ${l.cpuSpeed.cores.map((c) => (Number.isFinite(c) ? c.toFixed(2) : "-")).join(" ")}`}${l.topOthers === "" ? "" : ` [${l.topOthers}]`}`;
}

/** Pearson correlation (NaN for fewer than 3 points or no spread). */
export function correlation(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 3) return Number.NaN;
  const mx = xs.slice(0, n).reduce((a, x) => a + x, 0) / n;
  const my = ys.slice(0, n).reduce((a, y) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

/** A compact verdict for a table cell: "req/s >= 0.95x met in 3 of 4 clean rounds (median 0.97x)". */
export function roundVerdictText(vs: readonly GoalVerdict[]): string {
  return vs
    .map(
      (v) =>
        `${v.goal} met in ${v.metClean} of ${v.clean} clean rounds (median ${f2(v.medianOfRatiosClean)}, interval ${intervalText(v.intervalClean)}${v.enough && !firm(v, v.target) ? ", within the noise" : ""}; all rounds ${v.metAll} of ${v.all}, ${f2(v.medianOfRatiosAll)})`,
    )
    .join("; ");
}
