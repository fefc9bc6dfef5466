// The benches' round method (bench/round-verdict.ts) and the machine figures it flags rounds
// by (bench/machine-load.ts): rounds alternate their order, a round is flagged by the machine
// and the control only (never by either side's own figures), flagged rounds are kept and
// re-run up to a bound, and the verdict counts clean rounds.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { mergeLoads, type RoundLoad, RoundMeter } from "../../bench/machine-load.js";
import {
  DEFAULT_METHOD,
  firm,
  flagRounds,
  pairVerdicts,
  type Round,
  RPS_P99_CPU,
  roundLine,
  roundOrder,
  runRounds,
  type Sample,
  verdictLines,
} from "../../bench/round-verdict.js";

const quiet = (otherCores = 0.1): RoundLoad => ({
  seconds: 1,
  otherCores,
  benchCores: 1,
  clientCores: 0.3,
  higherPriorityCores: 0,
  stealCores: 0,
  load1Before: 1,
  load1After: 1,
  topOthers: "",
  cpuSpeed: null,
});

const sample = (rps: number, p99ms: number, otherCores = 0.1): Sample => ({
  rps,
  p99ms,
  cpuUsPerReq: 1e6 / rps,
  load: quiet(otherCores),
});

/** A quiet run during which the CPU-speed probe saw the CPUs at `cores` (its slowest decides). */
const timed = (rps: number, p99ms: number, ...cores: number[]): Sample => ({
  ...sample(rps, p99ms),
  load: { ...quiet(), cpuSpeed: { cores, speed: Math.min(...cores), samples: 15 * cores.length } },
});

function round(i: number, a: Sample, b: Sample, control?: Sample): Round<Sample> {
  const samples = new Map<string, Sample>([
    ["a", a],
    ["b", b],
  ]);
  if (control !== undefined) samples.set("nginx", control);
  return { round: i + 1, order: roundOrder([...samples.keys()], i), samples, why: [] };
}

describe("round method", () => {
  it("alternates the order so that each side runs first in half the rounds", () => {
    assert.deepEqual(roundOrder(["a", "b", "c"], 0), ["a", "b", "c"]);
    assert.deepEqual(roundOrder(["a", "b", "c"], 1), ["c", "b", "a"]);
    assert.deepEqual(roundOrder(["a", "b"], 2), ["a", "b"]);
    assert.deepEqual(roundOrder(["a", "b"], 3), ["b", "a"]);
  });

  it("puts every one of three or more targets in every place in turn (none always in the middle)", () => {
    for (const names of [
      ["a", "b", "c"],
      ["a", "b", "c", "d"],
    ]) {
      const rounds = 2 * names.length;
      const orders = Array.from({ length: rounds }, (_, i) => roundOrder(names, i));
      for (const o of orders) assert.deepEqual([...o].sort(), names);
      for (const name of names)
        for (let place = 0; place < names.length; place++) {
          const times = orders.filter((o) => o[place] === name).length;
          assert.equal(
            times,
            2,
            `${name} at place ${place}: ${times} of ${rounds} rounds (${JSON.stringify(orders)})`,
          );
        }
    }
    // Three targets: the six rounds are the six orders.
    const six = new Set(Array.from({ length: 6 }, (_, i) => roundOrder(["a", "b", "c"], i).join("")));
    assert.equal(six.size, 6);
  });

  it("flags by outside CPU, its spread and the control, never by a side's own figures", () => {
    const rounds = [
      // A side's own figures far off (a 10x slower round): not a reason.
      round(0, sample(100, 50), sample(1000, 5), sample(5000, 2)),
      round(1, sample(900, 5), sample(1000, 5, 1.9), sample(5000, 2, 1.8)),
      round(2, sample(900, 5), sample(1000, 5, 0.5), sample(5000, 2, 0.1)),
      round(3, sample(900, 5), sample(1000, 5), sample(2500, 2)),
      round(4, sample(900, 5), sample(1000, 5), sample(5100, 2)),
    ];
    flagRounds(rounds, DEFAULT_METHOD, "nginx");
    assert.deepEqual(rounds[0].why, []);
    assert.match(rounds[1].why.join(";"), /outside CPU 1\.90 cores during b/);
    assert.match(rounds[2].why.join(";"), /outside CPU uneven: 0\.50 cores during b, 0\.10 during/);
    assert.match(rounds[3].why.join(";"), /control nginx 2500 req\/s, -50 % from its median 5000/);
    assert.deepEqual(rounds[4].why, []);
    // The same rounds with the sides' names swapped are flagged the same way.
    const swapped = rounds.map((r, i) =>
      round(i, r.samples.get("b") as Sample, r.samples.get("a") as Sample, r.samples.get("nginx")),
    );
    flagRounds(swapped, DEFAULT_METHOD, "nginx");
    assert.deepEqual(
      swapped.map((r) => r.why.length > 0),
      rounds.map((r) => r.why.length > 0),
    );
  });

  it("flags a round whose sides' runs saw the CPUs at different speeds, the same with the sides swapped", () => {
    const rounds = [
      // The probe saw one side's run at half speed: disturbed, whatever the sides' figures.
      round(0, timed(500, 10, 0.5, 1.0), timed(1000, 5, 1.0, 1.02), timed(5000, 2, 1, 1)),
      round(1, timed(1000, 5, 1.0, 0.98), timed(1000, 5, 0.55, 1.0), timed(5000, 2, 1, 1)),
      // Both sides slow alike: the pair is still fair, not flagged.
      round(2, timed(500, 10, 0.5, 0.52), timed(520, 10, 0.55, 0.53), timed(5000, 2, 1, 1)),
      // Within the band (25 %): not flagged.
      round(3, timed(900, 5, 0.9, 1.0), timed(1000, 5, 1.05, 1.1), timed(5000, 2, 1, 1)),
      // A side's own figures 10x off at equal speeds: not a reason.
      round(4, timed(100, 50, 1, 1), timed(1000, 5, 1, 1), timed(5000, 2, 1, 1)),
      // Only the control ran slow: the speed rule compares the sides (the control has its band).
      round(5, timed(900, 5, 1, 1), timed(1000, 5, 1, 1), timed(5000, 2, 0.4, 1)),
      // No probe: the rule has nothing to say.
      round(6, sample(900, 5), sample(1000, 5), sample(5000, 2)),
    ];
    const sides = [["a", "b"]] as const;
    flagRounds(rounds, DEFAULT_METHOD, "nginx", sides);
    assert.match(rounds[0].why.join(";"), /CPU speed uneven: 1\.00 during b, 0\.50 during a \(band 25 %\)/);
    assert.match(rounds[1].why.join(";"), /CPU speed uneven: 0\.98 during a, 0\.55 during b/);
    assert.deepEqual(
      rounds.map((r) => r.why.length > 0),
      [true, true, false, false, false, false, false],
    );
    // Without `sides` the rule compares every run of the round: the slow control is seen.
    const all = rounds.map((r, i) => round(i, ...([...r.samples.values()] as [Sample, Sample, Sample])));
    flagRounds(all, DEFAULT_METHOD, "nginx");
    assert.match(all[5].why.join(";"), /CPU speed uneven: 1\.00 during [ab], 0\.40 during nginx/);
    // The same rounds with the sides' names swapped, and the pair named the other way round.
    const swapped = rounds.map((r, i) =>
      round(i, r.samples.get("b") as Sample, r.samples.get("a") as Sample, r.samples.get("nginx")),
    );
    flagRounds(swapped, DEFAULT_METHOD, "nginx", [["b", "a"]]);
    assert.deepEqual(
      swapped.map((r) => r.why.length > 0),
      rounds.map((r) => r.why.length > 0),
    );
    // The same verdict either way round (a/b met where b/a is its mirror).
    const [ab] = pairVerdicts(rounds, "a", "b", RPS_P99_CPU(0.9));
    const [ba] = pairVerdicts(swapped, "b", "a", RPS_P99_CPU(0.9));
    assert.deepEqual(
      [ab.clean, ab.metClean, ab.medianOfRatiosClean],
      [ba.clean, ba.metClean, ba.medianOfRatiosClean],
    );
    // A narrower band flags round 3 too; the band is said in the method line and per round.
    flagRounds(rounds, { ...DEFAULT_METHOD, speedBand: 0.1 }, "nginx", sides);
    assert.match(rounds[3].why.join(";"), /CPU speed uneven: 1\.05 during b, 0\.90 during a \(band 10 %\)/);
    const text = verdictLines(rounds, [ab], { ...DEFAULT_METHOD, speedBand: 0.1 }, "nginx").join("\n");
    assert.match(text, /the CPU-speed probe saw the two sides' runs more than 10 % apart/);
    assert.match(
      text,
      /CPU speed per run \(probe.*\): a 0\.94 \(0\.50-1\.00\), b 1\.00 \(0\.53-1\.05\).*rounds flagged by it: 3 of 7/,
    );
    // The round table's short column.
    assert.match(
      roundLine(1, "a", rounds[0].samples.get("a") as Sample),
      /us\/req {2}speed 0\.50 .*CPUs 0\.50 1\.00/,
    );
    assert.match(roundLine(7, "a", rounds[6].samples.get("a") as Sample), /us\/req {2}speed {4}-/);
  });

  it("counts clean rounds, keeps the disturbed ones in the all-round figures", () => {
    const rounds = [
      round(0, sample(950, 5), sample(1000, 5)),
      round(1, sample(800, 7), sample(1000, 5)),
      round(2, sample(920, 5), sample(1000, 5)),
      round(3, sample(400, 20), sample(1000, 5, 1.9)),
    ];
    flagRounds(rounds, DEFAULT_METHOD);
    const [rps, p99] = pairVerdicts(rounds, "a", "b", RPS_P99_CPU(0.9, 1.2));
    assert.equal(rps.clean, 3);
    assert.equal(rps.metClean, 2);
    assert.equal(rps.all, 4);
    assert.equal(rps.metAll, 2);
    assert.equal(rps.medianOfRatiosClean, 0.92);
    assert.ok(rps.met);
    assert.equal(p99.metClean, 2);
    assert.equal(p99.metAll, 2);
    // Rounds 1 and 3 ran a first (order forward), 2 and 4 b first.
    assert.equal(rps.aFirst, (0.95 + 0.92) / 2);
    assert.equal(rps.bFirst, (0.8 + 0.4) / 2);
    const text = verdictLines(rounds, [rps, p99], DEFAULT_METHOD, undefined).join("\n");
    assert.match(text, /disturbed rounds: 1 of 4/);
    assert.match(text, /round 4: outside CPU 1\.90 cores during b/);
    assert.match(
      text,
      /a\/b req\/s >= 0\.90x\s+2 of 3\s+0\.92x\s+0\.80-0\.95x \(75 %\).*MET, within the noise$/m,
    );
    // Fewer clean rounds than the method asks for: no verdict, said so.
    const [few] = pairVerdicts(rounds, "a", "b", RPS_P99_CPU(0.9), 4);
    assert.equal(few.met, false);
    assert.match(
      verdictLines(rounds, [few], { ...DEFAULT_METHOD, minClean: 4 }, undefined).join("\n"),
      /2 of 3 .*TOO FEW CLEAN ROUNDS \(< 4\)/,
    );
  });

  it("calls a verdict firm only when the median's interval is on its side of the limit", () => {
    const ratios = (xs: number[]) => xs.map((x, i) => round(i, sample(1000 * x, 5), sample(1000, 5)));
    const verdict = (xs: number[]) => {
      const rounds = ratios(xs);
      flagRounds(rounds, DEFAULT_METHOD);
      const [v] = pairVerdicts(rounds, "a", "b", RPS_P99_CPU(0.95));
      return { v, line: verdictLines(rounds, [v], DEFAULT_METHOD, undefined).at(-1) as string };
    };
    // Eight rounds: the interval is the 2nd smallest to the 2nd largest ratio (93 %).
    const sure = verdict([0.97, 1.01, 0.99, 0.9, 1.03, 0.98, 1.0, 1.02]);
    assert.ok(sure.v.met && firm(sure.v, sure.v.target));
    assert.deepEqual([sure.v.intervalClean.lo, sure.v.intervalClean.hi], [0.97, 1.02]);
    assert.match(sure.line, /0\.97-1\.02x \(93 %\).* MET$/);
    const noisy = verdict([0.97, 1.01, 0.8, 0.9, 1.03, 0.94, 1.0, 0.96]);
    assert.ok(noisy.v.met && !firm(noisy.v, noisy.v.target));
    assert.match(noisy.line, /MET, within the noise$/);
    const short = verdict([0.9, 0.92, 0.8, 0.91, 0.97, 0.89, 0.93, 0.88]);
    assert.ok(!short.v.met && firm(short.v, short.v.target));
    assert.match(short.line, /NOT MET$/);
  });

  it("re-runs a disturbed round, up to the bound, and keeps every round", async () => {
    let calls = 0;
    const disturbedRounds = new Set([1, 2, 3, 4, 5]);
    const lines: string[] = [];
    const rounds = await runRounds(
      ["a", "b"],
      3,
      { ...DEFAULT_METHOD, maxReruns: 2 },
      undefined,
      async (name, r) => {
        calls++;
        return sample(1000, 5, disturbedRounds.has(r) && name === "a" ? 1.9 : 0.1);
      },
      (l) => lines.push(l),
    );
    assert.equal(rounds.length, 5, "3 rounds plus 2 extra (the bound), none dropped");
    assert.equal(calls, 10);
    assert.deepEqual(
      rounds.map((r) => r.why.length > 0),
      [false, true, true, true, true],
    );
    assert.equal(lines.length, 2);
    assert.deepEqual(rounds[4].order, ["a", "b"]);
    assert.deepEqual(rounds[3].order, ["b", "a"]);
  });

  it("mirrors a round when asked, so a place effect costs every target alike", async () => {
    // Two targets of equal speed on a machine that gets 5 % faster with every run, place by
    // place: alternating the order alone gives each round's ratio the drift's sign (a ran
    // first: a looks slower); mirrored rounds (a b b a) see the two as equal in every round.
    const drifting = () => {
      let calls = 0;
      return async () => sample(1000 * (1 + 0.05 * calls++), 5);
    };
    const merge = (x: Sample, y: Sample): Sample => ({
      ...x,
      rps: (x.rps + y.rps) / 2,
      load: mergeLoads(x.load, y.load),
    });
    const plain = await runRounds(["a", "b"], 4, DEFAULT_METHOD, undefined, drifting(), () => {});
    const mirrored = await runRounds(
      ["a", "b"],
      4,
      DEFAULT_METHOD,
      undefined,
      drifting(),
      () => {},
      undefined,
      merge,
    );
    const [vPlain] = pairVerdicts(plain, "a", "b", RPS_P99_CPU(0.98));
    const [vMirrored] = pairVerdicts(mirrored, "a", "b", RPS_P99_CPU(0.98));
    assert.equal(vPlain.metClean, 2, "unmirrored: met only in the rounds where b ran first");
    assert.ok(
      vPlain.aFirst < 0.96 && vPlain.bFirst > 1.04,
      `order effect ${vPlain.aFirst} / ${vPlain.bFirst}`,
    );
    assert.equal(vMirrored.metClean, 4, "mirrored: met in every round");
    for (const r of mirrored) {
      assert.equal(r.mirrored, true);
      const ratio = (r.samples.get("a") as Sample).rps / (r.samples.get("b") as Sample).rps;
      assert.ok(Math.abs(ratio - 1) < 1e-9, `round ${r.round}: a/b ${ratio}`);
    }
    assert.match(
      verdictLines(mirrored, [vMirrored], DEFAULT_METHOD, undefined)[0],
      /every target twice per round, mirrored/,
    );
  });

  it("merges a mirrored round's two loads by the worse of what flags a round", () => {
    const a: RoundLoad = { ...quiet(0.1), seconds: 5, benchCores: 1, topOthers: "x(1) 0.10" };
    const b: RoundLoad = {
      ...quiet(1.8),
      seconds: 5,
      benchCores: 2,
      stealCores: 0.2,
      topOthers: "y(2) 1.80",
    };
    const m = mergeLoads(a, b);
    assert.equal(m.otherCores, 1.8);
    assert.equal(m.topOthers, "y(2) 1.80");
    assert.equal(m.stealCores, 0.2);
    assert.equal(m.benchCores, 1.5);
    assert.equal(m.seconds, 10);
    const r: Round<Sample> = {
      round: 1,
      order: ["a", "b"],
      samples: new Map([
        ["a", { ...sample(1000, 5), load: m }],
        ["b", sample(1000, 5)],
      ]),
      why: [],
    };
    flagRounds([r], DEFAULT_METHOD);
    assert.ok(
      r.why.some((w) => w.startsWith("outside CPU 1.80 cores during a")),
      r.why.join("; "),
    );
  });

  it("re-runs a round in which the probe saw one side's run slow", async () => {
    const lines: string[] = [];
    const rounds = await runRounds(
      ["a", "b"],
      3,
      DEFAULT_METHOD,
      undefined,
      // Round 2 (index 1): b's run on CPUs at 0.45 of their speed; its figures look normal.
      async (name, r) => (r === 1 && name === "b" ? timed(1000, 5, 0.45, 1) : timed(1000, 5, 1, 1)),
      (l) => lines.push(l),
      [["a", "b"]],
    );
    assert.equal(rounds.length, 4, "one extra round for the slow one, none dropped");
    assert.deepEqual(
      rounds.map((r) => r.why.length > 0),
      [false, true, false, false],
    );
    assert.match(lines.join("\n"), /1 disturbed round\(s\): running round 4/);
  });
});

describe("machine load of a round", () => {
  it("tells the bench's own processes from the others", { timeout: 120_000 }, async () => {
    // A busy child of this process (the bench's) and a busy process outside it: `sh` starts
    // it in the background and exits, so it is no descendant of ours. Both stop themselves
    // after 60 s and are killed by pid at the end. On a loaded machine either may get a small
    // share of a core, so the test waits until each has used 0.5 s of CPU and compares ticks.
    const busy = "const end = Date.now() + 60000; while (Date.now() < end) {}";
    const mine = spawn(process.execPath, ["-e", busy], { stdio: "ignore" });
    const sh = spawn(
      "sh",
      ["-c", `${JSON.stringify(process.execPath)} -e '${busy}' >/dev/null 2>&1 & echo $!`],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    sh.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    await new Promise((r) => sh.once("exit", r));
    const outsidePid = Number(out.trim());
    const ticks = (pid: number) => {
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      return Number(f[11]) + Number(f[12]);
    };
    try {
      assert.ok(outsidePid > 0, `no pid from sh: ${out}`);
      const meter = new RoundMeter();
      const [mine0, out0] = [ticks(mine.pid ?? 0), ticks(outsidePid)];
      meter.start();
      const deadline = Date.now() + 55_000;
      while (Date.now() < deadline && (ticks(mine.pid ?? 0) - mine0 < 50 || ticks(outsidePid) - out0 < 50))
        await new Promise((r) => setTimeout(r, 200));
      const load = meter.stop();
      const [mineD, outD] = [ticks(mine.pid ?? 0) - mine0, ticks(outsidePid) - out0];
      assert.ok(mineD >= 50 && outD >= 50, `busy loops got ${mineD} and ${outD} ticks in 55 s`);
      const asTicks = (cores: number) => cores * load.seconds * 100;
      // /proc/stat and the per-process times are sampled apart: a few ticks of slack.
      assert.ok(
        asTicks(load.benchCores) >= mineD - 5,
        `bench ${asTicks(load.benchCores)} ticks, child ${mineD}`,
      );
      assert.ok(
        asTicks(load.otherCores) >= outD - 5,
        `outside ${asTicks(load.otherCores)} ticks, process ${outD}`,
      );
      assert.doesNotMatch(load.topOthers, new RegExp(`\\(${mine.pid}\\)`));
    } finally {
      mine.kill("SIGKILL");
      try {
        process.kill(outsidePid, "SIGKILL");
      } catch {
        // It ended on its own.
      }
    }
  });
});
