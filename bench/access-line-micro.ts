// The access line's cost per request: `npm run bench -- access-line`. The byte encoder (each
// field written straight into the batch's buffer, as ProcessLogger.lines lends it) next to the
// text path measured in the same run (the line built as a template string, then UTF-8 encoded
// into the same buffer: what every line cost before). CPU ns per line, median of interleaved
// passes over seeded records shaped like the proxy bench's (a path with a query, a UUID
// request id, a 32-bit key hash, the member's slot, a start on the monotonic clock).
// `--against DIR`: the byte encoder of another build too (DIR is its dist/, e.g. a copy of
// main's), on the same records in the same passes.

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { RecordFields, RequestRecord } from "../proxy/forward/types.js";
import { type AccessLog, createAccessLog } from "../proxy/logging/access-log.js";
import type { BufferLineSink } from "../proxy/logging/logger.js";
import { seededRandom } from "../ring/random.js";
import { runIfMain } from "./run-if-main.js";

const SEED = 0xacce5;
const RECORDS = 1000;
const N = 200_000; // a multiple of RECORDS
const PASSES = 11;
const MEMBERS = ["m1", "m2", "m3"];

function records(): RequestRecord[] {
  const rand = seededRandom(SEED);
  const hex = (n: number): string =>
    Math.floor(rand() * 16 ** n)
      .toString(16)
      .padStart(n, "0");
  const out: RequestRecord[] = [];
  for (let i = 0; i < RECORDS; i++) {
    // One literal with every field (the data plane's records are class instances, fast
    // properties): a spread copy would read its fields from a dictionary.
    const r = {
      method: "GET",
      path: `/items/${Math.floor(rand() * 1e6)}?user=u${Math.floor(rand() * 1e6)}`,
      status: 200,
      route: "*/",
      pool: "bench",
      member: "",
      durationMs: rand() * 20,
      queuedMs: 0,
      requestId: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      keyHash: Math.floor(rand() * 2 ** 32),
      attempts: 1,
      ringVersion: 3,
      errorCode: "",
      upgrade: false,
      startedAt: 0,
      endedAt: 0,
      memberSlot: Math.floor(rand() * 3),
      openSlot: -1,
      traceState: null,
      toJSON(): RecordFields {
        return r;
      },
    };
    r.member = MEMBERS[r.memberSlot];
    out.push(r);
  }
  return out;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { against: { type: "string" } } });
  const buf = Buffer.allocUnsafeSlow(40 * 1024);
  let bytes = 0;
  // Both sinks keep writing at the buffer's start: the encoding is measured, not the handover.
  const lending: BufferLineSink = {
    buf,
    write(line) {
      bytes += buf.write(line, 0, "utf8");
    },
    reserve: () => 0,
    commit(end) {
      bytes += end;
    },
  };
  const textSink = {
    write(line: string) {
      bytes += buf.write(line, 0, "utf8");
    },
  };
  const variants: Array<{ name: string; log: AccessLog }> = [
    { name: "text path (template string, then UTF-8 encode)", log: createAccessLog(textSink, true) },
    { name: "byte encoder (fields straight into the buffer)", log: createAccessLog(lending, true) },
  ];
  if (values.against !== undefined) {
    const dir = resolve(values.against);
    const other = (await import(pathToFileURL(resolve(dir, "proxy/logging/access-log.js")).href)) as {
      createAccessLog: typeof createAccessLog;
    };
    variants.push({ name: `byte encoder of ${dir}`, log: other.createAccessLog(lending, true) });
  }
  const recs = records();
  const ns: number[][] = variants.map(() => []);
  for (let pass = 0; pass < PASSES + 2; pass++)
    variants.forEach((v, k) => {
      // Records end "now" on the monotonic clock, as the data plane's do (it reads the clock,
      // then writes the line): restamped before each round of the records, well under a
      // millisecond apart, at one store per line in every variant.
      const c0 = process.cpuUsage();
      for (let i = 0; i < N; i += RECORDS) {
        const now = performance.now();
        for (const r of recs) {
          (r as { startedAt: number }).startedAt = now - r.durationMs;
          (r as { endedAt: number }).endedAt = now;
        }
        for (let j = 0; j < RECORDS; j++) v.log.write(recs[j]);
      }
      const c = process.cpuUsage(c0);
      if (pass >= 2) ns[k].push(((c.user + c.system) * 1000) / N);
    });
  console.log(
    `access line: ${RECORDS} seeded records (seed ${SEED}), CPU ns per line, median of ${PASSES} interleaved passes of ${N}`,
  );
  const base = median(ns[0]);
  for (let k = 0; k < variants.length; k++)
    console.log(
      `${variants[k].name.padEnd(52)}${median(ns[k]).toFixed(0).padStart(8)} ns ${(median(ns[k]) / base).toFixed(2).padStart(6)}x`,
    );
  if (bytes === 0) console.log("(nothing written)");
  return 0;
}

runIfMain(import.meta.url, run);
