// The bench's side of bench/alloc-meter.ts: starts a Node forwarder with the meter loaded, and
// opens and closes the meter's window around a load run (SIGUSR2, then the line the meter
// appends to its file). Bytes allocated per request is the figure the proxy bench prints next
// to CPU per request: counted, not timed, so it holds still on a loaded machine.

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const METER = new URL(
  import.meta.url.endsWith(".ts") ? "./alloc-meter.ts" : "./alloc-meter.js",
  import.meta.url,
);

/** Environment that loads the meter into a Node child and names its file. */
export function allocMeterEnv(file: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const pre = `--import ${fileURLToPath(METER)}`;
  const prior = base.NODE_OPTIONS;
  return {
    ...base,
    ALLOC_METER_FILE: file,
    NODE_OPTIONS: prior === undefined || prior === "" ? pre : `${prior} ${pre}`,
  };
}

export interface AllocFigures {
  /** HTTP requests the process began serving in the window. */
  requests: number;
  /** Bytes allocated on the JS heap over the window, all spaces. */
  bytes: number;
  /** Of which in the young generation. */
  young: number;
  gcs: number;
  scavenges: number;
  /** With ALLOC_METER_SITES=1 in the bench's environment: sampled bytes by allocating function. */
  sites?: Array<[string, number]>;
}

function lineCount(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, "utf8").split("\n").length - 1;
}

export class AllocWindow {
  readonly #pid: number;
  readonly #file: string;

  constructor(pid: number, file: string) {
    this.#pid = pid;
    this.#file = file;
  }

  /** Signals the meter and waits (at most `timeoutMs`) for its next line. */
  async #step(timeoutMs: number): Promise<string> {
    const before = lineCount(this.#file);
    process.kill(this.#pid, "SIGUSR2");
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = existsSync(this.#file) ? readFileSync(this.#file, "utf8").split("\n") : [];
      if (lines.length - 1 > before) return lines[before];
      if (Date.now() > deadline)
        throw new Error(`alloc meter in pid ${this.#pid} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async open(timeoutMs = 10_000): Promise<void> {
    const line = await this.#step(timeoutMs);
    if (!line.includes('"open"')) throw new Error(`alloc meter: expected an open line, got ${line}`);
  }

  async close(timeoutMs = 10_000): Promise<AllocFigures> {
    const line = await this.#step(timeoutMs);
    const f = JSON.parse(line) as Partial<AllocFigures>;
    if (typeof f.bytes !== "number" || typeof f.requests !== "number")
      throw new Error(`alloc meter: expected figures, got ${line}`);
    return f as AllocFigures;
  }
}

/**
 * Meters the middle of a load run of `seconds`: opens the window a fifth of the run (at most
 * 1 s) after it began, once the client's connections are up, and closes it as long before its
 * end. `ended` resolves when the load run is over; a window still open then is closed at once
 * and reported as covering the run's end (its figure then includes connection tear-down).
 */
export async function meterMiddle(
  w: AllocWindow,
  seconds: number,
  ended: Promise<unknown>,
): Promise<AllocFigures & { pastEnd: boolean }> {
  const margin = Math.min(1000, seconds * 200);
  let over = false;
  void ended.then(() => {
    over = true;
  });
  const until = (ms: number) =>
    Promise.race([new Promise((r) => setTimeout(r, ms)), ended.then(() => undefined)]);
  const t0 = Date.now();
  await until(margin);
  await w.open();
  await until(Math.max(0, seconds * 1000 - margin - (Date.now() - t0)));
  const pastEnd = over;
  return { ...(await w.close()), pastEnd };
}
