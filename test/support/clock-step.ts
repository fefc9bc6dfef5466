// Steps the wall clock of real shardgate processes, as NTP, a resumed VM or an operator's
// `date -s` does, without touching the machine's clock: the Debian package faketime preloads
// libfaketime, which re-reads an offset ("+0", "-1h", "+1h") from a file on every clock call.
// Only the wall clock moves (DONT_FAKE_MONOTONIC=1): CLOCK_MONOTONIC, hence performance.now()
// and Node's timers, goes on as before, the way a real step leaves it.
//
//   const clock = new ClockStep();           // skip first when clock.missing is a reason
//   startShardgate(yaml, { env: clock.env }) // every process given clock.env shares the offset
//   clock.step("-1h");                        // takes effect at the processes' next Date.now()

import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/** Why clock-step tests cannot run here (libfaketime absent), or undefined when they can. */
export function clockStepMissing(): string | undefined {
  if (existsSync(LIBFAKETIME)) return undefined;
  return `${LIBFAKETIME} not found: install the Debian package faketime (.ci/run does) to step a process's wall clock`;
}

/** One offset file and the environment that makes a spawned process read its wall clock through it. */
export class ClockStep {
  readonly missing = clockStepMissing();
  private readonly dir = mkdtempSync(join(tmpdir(), "sg-clock-"));
  private readonly file = join(this.dir, "offset");
  readonly env: Readonly<Record<string, string>>;

  constructor() {
    this.write("+0");
    this.env = {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: "1",
      DONT_FAKE_MONOTONIC: "1",
    };
  }

  /** Sets the offset from the real time: "-1h", "+1h", "+0" (libfaketime's relative syntax). */
  step(offset: string): void {
    if (!/^[+-]\d+[smhd]?$/.test(offset)) throw new Error(`clock offset like "-1h" expected, got ${offset}`);
    this.write(offset);
  }

  /** Written aside, then renamed: a clock read never sees the file half written (empty). */
  private write(offset: string): void {
    const aside = `${this.file}.new`;
    writeFileSync(aside, `${offset}\n`);
    renameSync(aside, this.file);
  }

  /** Removes the offset file (after the processes using it stopped). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
