// Loaded with `--import` into the Node forwarders the proxy bench measures (never into the
// product): how many bytes of JavaScript heap the process allocates in a window the bench opens
// and closes with SIGUSR2 around one load run. Bytes allocated per request is the yardstick of
// the proxy's own cost that does not swing with the machine: wall-clock CPU per request moved
// 2-3x between rounds on the shared VM, while the same code allocates the same objects per
// request however slow the core it runs on (only the JIT's choices and what runs per second
// rather than per request, health checks and timers, move it).
//
// How it counts: every allocation lands in a space's used bytes until a GC takes the dead ones
// out again, so the bytes allocated in a space over the window are its used bytes at each GC's
// start minus its used bytes after the previous GC (or at the window's start), plus the last
// stretch up to the window's end. v8.GCProfiler gives the per-space figures around every GC.
// A drop between two GCs (concurrent sweeping giving memory back) counts as zero, never as
// negative allocation. ArrayBuffer contents (Buffers) are outside the JS heap and not counted.
//
// ALLOC_METER_SITES=1 also samples where the bytes are allocated (V8's sampling heap profiler,
// objects later collected included) and adds "sites": the top functions by bytes sampled, so
// a reduction can be aimed; it slows the process, so its windows' other figures are not used.
//
// Requests are counted in the window on the 'http.server.request.start' diagnostics channel
// (subscribed only while the window is open: one small message object per request, the same
// for every forwarder measured), so the bench can open the window after the load client's
// connections are up and close it before they go down: connection set-up and tear-down, whose
// share per request depends on how many requests a run managed, stay out of the figure.
//
// Protocol: the first SIGUSR2 opens the window and appends {"open":true} to the file named by
// ALLOC_METER_FILE; the next closes it and appends
// {"requests":R,"bytes":B,"young":Y,"gcs":N,"scavenges":S}; and so on. The bench waits for each
// line before going on.

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { appendFileSync } from "node:fs";
import { Session } from "node:inspector";
import { GCProfiler, getHeapSpaceStatistics } from "node:v8";

const out = process.env.ALLOC_METER_FILE;
const sites = process.env.ALLOC_METER_SITES === "1" ? new Session() : null;
sites?.connect();

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SampleNode[];
}

/** Sampled bytes by allocating function (name, file, line) and its caller, largest first. */
function bySite(root: SampleNode, top: number): Array<[string, number]> {
  const acc = new Map<string, number>();
  const name = (n: SampleNode): string => {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(dist|node_modules)\//, "");
    return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
  };
  const stack: Array<[SampleNode, string]> = [[root, ""]];
  for (let e = stack.pop(); e !== undefined; e = stack.pop()) {
    const [n, caller] = e;
    const here = name(n);
    const k = caller === "" ? here : `${here} < ${caller}`;
    if (n.selfSize > 0) acc.set(k, (acc.get(k) ?? 0) + n.selfSize);
    for (const c of n.children) stack.push([c, here]);
  }
  return [...acc].sort((a, b) => b[1] - a[1]).slice(0, top);
}

interface SpaceStat {
  spaceName: string;
  spaceUsedSize: number;
}
interface GcEntry {
  gcType: string;
  beforeGC: { heapSpaceStatistics: SpaceStat[] };
  afterGC: { heapSpaceStatistics: SpaceStat[] };
}

const YOUNG = new Set(["new_space", "new_large_object_space"]);

function usedBySpace(stats: ReadonlyArray<SpaceStat>): Map<string, number> {
  return new Map(stats.map((s) => [s.spaceName, s.spaceUsedSize]));
}

function nowUsed(): Map<string, number> {
  return usedBySpace(
    getHeapSpaceStatistics().map((s) => ({ spaceName: s.space_name, spaceUsedSize: s.space_used_size })),
  );
}

/** Bytes allocated over the window, all spaces and young spaces only. */
export function allocatedBytes(
  start: Map<string, number>,
  gcs: ReadonlyArray<GcEntry>,
  end: Map<string, number>,
): { bytes: number; young: number } {
  let bytes = 0;
  let young = 0;
  let prev = start;
  const add = (upTo: Map<string, number>): void => {
    for (const [space, used] of upTo) {
      const d = Math.max(0, used - (prev.get(space) ?? 0));
      bytes += d;
      if (YOUNG.has(space)) young += d;
    }
  };
  for (const g of gcs) {
    add(usedBySpace(g.beforeGC.heapSpaceStatistics));
    prev = usedBySpace(g.afterGC.heapSpaceStatistics);
  }
  add(end);
  return { bytes, young };
}

let profiler: GCProfiler | null = null;
let start = new Map<string, number>();
let requests = 0;
const REQUEST_START = "http.server.request.start";
function countRequest(): void {
  requests++;
}

function toggle(): void {
  if (out === undefined) return;
  if (profiler === null) {
    profiler = new GCProfiler();
    sites?.post("HeapProfiler.startSampling", {
      samplingInterval: 128,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    appendFileSync(out, '{"open":true}\n');
    requests = 0;
    subscribe(REQUEST_START, countRequest);
    profiler.start();
    start = nowUsed();
    return;
  }
  const end = nowUsed();
  unsubscribe(REQUEST_START, countRequest);
  const result = profiler.stop() as unknown as { statistics: GcEntry[] } | undefined;
  profiler = null;
  const gcs = result?.statistics ?? [];
  const { bytes, young } = allocatedBytes(start, gcs, end);
  const scavenges = gcs.filter((g) => g.gcType === "Scavenge").length;
  const figures = { requests, bytes, young, gcs: gcs.length, scavenges };
  if (sites === null) {
    appendFileSync(out, `${JSON.stringify(figures)}\n`);
    return;
  }
  sites.post("HeapProfiler.stopSampling", (err, r) => {
    const top = err === null ? bySite((r as { profile: { head: SampleNode } }).profile.head, 200) : [];
    appendFileSync(out, `${JSON.stringify({ ...figures, sites: top })}\n`);
  });
}

if (out !== undefined) process.on("SIGUSR2", toggle);
