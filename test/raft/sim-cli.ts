// `npm run raft:sim -- --seeds N --start S [--ticks T]` runs N randomized simulation seeds of the
// driver simulator (the production Ready loop and FileStorage on a page-cache file system, with
// crashes inside truncations / snapshot installs / rolls, lost disks, conf changes, transfers
// and checked reads; sim/driver-run.ts) and prints one line per failing seed, then a summary
// line LAST; exit 0 only if every invariant held.
// `npm run raft:sim -- --replay SEED [--ticks T]` replays one seed and prints its full trace.
// `--core` runs the pure-core simulator instead (RaftNode on MemoryStorage, sim/random-run.ts),
// `--storage` the storage crash simulator (sim/storage-sim.ts); same flags. `--two-clusters`
// runs the driver simulator with a second cluster of the same ids and misrouted messages.
import { runDriverSeed } from "./sim/driver-run.js";
import { runSeed } from "./sim/random-run.js";
import { runStorageSeed } from "./sim/storage-sim.js";

interface Args {
  seeds: number;
  start: number;
  ticks: number | undefined;
  replay: number | undefined;
  storage: boolean;
  core: boolean;
  twoClusters: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    seeds: 1000,
    start: 1,
    ticks: undefined,
    replay: undefined,
    storage: false,
    core: false,
    twoClusters: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const num = (): number => {
      const n = Number(value);
      if (value === undefined || !Number.isSafeInteger(n) || n < 0) {
        throw new Error(
          `${flag} needs a non-negative integer, got ${value === undefined ? "nothing" : `"${value}"`}`,
        );
      }
      i++;
      return n;
    };
    switch (flag) {
      case "--seeds":
        args.seeds = num();
        break;
      case "--start":
        args.start = num();
        break;
      case "--ticks":
        args.ticks = num();
        break;
      case "--replay":
        args.replay = num();
        break;
      case "--storage":
        args.storage = true;
        break;
      case "--core":
        args.core = true;
        break;
      case "--two-clusters":
        args.twoClusters = true;
        break;
      case "--help":
      case "-h":
        process.stdout.write(
          "usage: raft:sim -- [--seeds N] [--start S] [--ticks T]   run N driver-simulator seeds from S\n" +
            "       raft:sim -- --replay SEED [--ticks T]            print one seed's trace\n" +
            "       raft:sim -- --core [--seeds N --start S | --replay SEED]      pure-core simulator\n" +
            "       raft:sim -- --storage [--seeds N --start S | --replay SEED]   storage crash simulator\n" +
            "       raft:sim -- --two-clusters [...]   two clusters of the same ids, messages misrouted between them\n",
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument "${flag}" (try --help)`);
    }
  }
  return args;
}

// `raft:sim -- --replay N | head` closes the pipe early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});

async function storageMain(args: Args): Promise<number> {
  const t0 = performance.now();
  const seeds = args.replay !== undefined ? [args.replay] : [];
  if (args.replay === undefined) for (let s = args.start; s < args.start + args.seeds; s++) seeds.push(s);
  let failed = 0;
  let crashes = 0;
  let faults = 0;
  for (const s of seeds) {
    const r = await runStorageSeed(s);
    crashes += r.crashes;
    faults += r.faults.length;
    if (args.replay !== undefined) {
      for (const f of r.faults) process.stdout.write(`fault: ${f}\n`);
      for (const v of r.violations) process.stdout.write(`VIOLATION ${v}\n`);
    }
    if (!r.ok) {
      failed++;
      process.stdout.write(
        `seed ${s} FAILED: ${r.violations[0]} (replay: npm run raft:sim -- --storage --replay ${s})\n`,
      );
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(
    `raft:sim storage ${failed === 0 ? "PASS" : "FAIL"}: ${seeds.length} seeds, ${failed} failed, ` +
      `${crashes} crash recoveries checked, ${faults} injected faults, ${secs}s\n`,
  );
  return failed === 0 ? 0 : 1;
}

async function driverMain(args: Args): Promise<number> {
  if (args.replay !== undefined) {
    const r = await runDriverSeed(args.replay, {
      ticks: args.ticks,
      trace: true,
      twoClusters: args.twoClusters,
    });
    for (const line of r.trace) process.stdout.write(`${line}\n`);
    for (const v of r.violations) process.stdout.write(`VIOLATION ${v}\n`);
    process.stdout.write(
      `seed ${r.seed}: ${r.ok ? "ok" : "FAILED"} committed=${r.committed} ${JSON.stringify(r.stats)}\n`,
    );
    return r.ok ? 0 : 1;
  }
  const t0 = performance.now();
  let failed = 0;
  let committed = 0;
  const totals: Record<string, number> = {};
  for (let s = args.start; s < args.start + args.seeds; s++) {
    let r: Awaited<ReturnType<typeof runDriverSeed>>;
    try {
      r = await runDriverSeed(s, { ticks: args.ticks, twoClusters: args.twoClusters });
    } catch (e) {
      failed++;
      process.stdout.write(`seed ${s} FAILED: threw ${(e as Error).stack ?? String(e)}\n`);
      continue;
    }
    committed += r.committed;
    for (const [k, v] of Object.entries(r.stats)) totals[k] = (totals[k] ?? 0) + v;
    if (!r.ok) {
      failed++;
      process.stdout.write(
        `seed ${s} FAILED: ${r.violations[0]} (replay: npm run raft:sim -- ${args.twoClusters ? "--two-clusters " : ""}--replay ${s})\n`,
      );
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const t = totals;
  process.stdout.write(
    `raft:sim ${failed === 0 ? "PASS" : "FAIL"}: ${args.seeds} seeds from ${args.start}, ${failed} failed, ` +
      `${committed} entries committed, ${t.crashes ?? 0} crashes (${t.armedCrashes ?? 0} inside a file operation: ` +
      `${t.crashInTruncation ?? 0} in truncations, ${t.crashInSnapshotInstall ?? 0} in snapshot installs, ` +
      `${t.crashInRoll ?? 0} in segment rolls), ${t.diskLosses ?? 0} lost disks (${t.readmitted ?? 0} re-admitted), ${t.upgrades ?? 0} upgrades (${t.levelRaises ?? 0} cluster level raises, ` +
      `${t.levelBlocks ?? 0} upgrade blocks, ${t.blocksChecked ?? 0} reported after the faults), ` +
      `${t.confChanges ?? 0} conf changes, ${t.transfers ?? 0} transfers, ${t.readsChecked ?? 0} reads checked, ` +
      `${t.snapshotsInstalled ?? 0} snapshots installed, ` +
      (args.twoClusters
        ? `${t.clusterIdsFixed ?? 0} cluster ids fixed, ${t.crossClusterRefused ?? 0} of ${t.misrouted ?? 0} misrouted messages refused, ` +
          `${t.movedIn ?? 0} directories moved in (${t.movedInRefused ?? 0} of their messages refused), `
        : "") +
      `${secs}s\n`,
  );
  return failed === 0 ? 0 : 1;
}

function main(): number | Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`raft:sim: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.storage) return storageMain(args);
  if (!args.core) return driverMain(args);
  if (args.replay !== undefined) {
    const r = runSeed(args.replay, { ticks: args.ticks, trace: true });
    for (const line of r.trace) process.stdout.write(`${line}\n`);
    for (const v of r.violations) process.stdout.write(`VIOLATION ${v}\n`);
    process.stdout.write(
      `seed ${r.seed}: ${r.ok ? "ok" : "FAILED"} committed=${r.committed} maxTerm=${r.maxTerm} ` +
        `messages=${r.messages} ${JSON.stringify(r.stats)}\n`,
    );
    return r.ok ? 0 : 1;
  }
  const t0 = performance.now();
  let failed = 0;
  let committed = 0;
  let messages = 0;
  const totals = {
    crashes: 0,
    lostReadies: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    readStates: 0,
    earlyAppends: 0,
  };
  for (let s = args.start; s < args.start + args.seeds; s++) {
    let r: ReturnType<typeof runSeed>;
    try {
      r = runSeed(s, { ticks: args.ticks });
    } catch (e) {
      failed++;
      process.stdout.write(`seed ${s} FAILED: threw ${(e as Error).stack ?? String(e)}\n`);
      continue;
    }
    committed += r.committed;
    messages += r.messages;
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
    if (!r.ok) {
      failed++;
      process.stdout.write(
        `seed ${s} FAILED: ${r.violations[0]} (replay: npm run raft:sim -- --core --replay ${s})\n`,
      );
    }
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(
    `raft:sim ${failed === 0 ? "PASS" : "FAIL"}: ${args.seeds} seeds from ${args.start}, ${failed} failed, ` +
      `${committed} entries committed, ${messages} messages, ${totals.crashes} crashes ` +
      `(${totals.lostReadies} lost an unsynced Ready), ${totals.earlyAppends} appends sent before the leader's sync, ` +
      `${totals.confChanges} conf changes, ` +
      `${totals.snapshotsInstalled} snapshots installed, ${totals.readStates} reads, ${secs}s\n`,
  );
  return failed === 0 ? 0 : 1;
}

void Promise.resolve(main()).then((code) => {
  process.exitCode = code;
});
