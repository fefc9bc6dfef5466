// The V8 heap of a child process, read from outside after a full GC, for leak checks: the
// child runs with NODE_OPTIONS=--inspect=127.0.0.1:0 (loopback, a free port), prints its
// inspector's WebSocket URL on stderr, and this asks it over the Chrome DevTools protocol
// (HeapProfiler.collectGarbage, then Runtime.getHeapUsage, or a heap snapshot whose objects
// are counted by constructor name). No code of the child changes.

import WebSocket from "ws";
import { eventually } from "./wait.js";

/** The environment that makes a child listen for the inspector on a free loopback port. */
export const INSPECT_ENV = { NODE_OPTIONS: "--inspect=127.0.0.1:0" };

/** The inspector URL the child printed on `stderr()`; waits for it (bounded). */
export function inspectorUrl(stderr: () => string): Promise<string> {
  return eventually(
    "the inspector's WebSocket URL on stderr",
    () => /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(stderr())?.[1],
    30_000,
    50,
  );
}

/** Bytes of V8 heap in use after two full collections (the second frees what the first's finalizers let go). */
export async function heapAfterGc(url: string, timeoutMs = 60_000): Promise<number> {
  return session(url, timeoutMs, async (call) => {
    await call("HeapProfiler.collectGarbage");
    await call("HeapProfiler.collectGarbage");
    const usage = await call("Runtime.getHeapUsage");
    return Number(usage.usedSize);
  });
}

/**
 * How many live objects of each constructor in `names` the child's heap holds (a heap snapshot,
 * which V8 takes after a full GC): e.g. connection pools of members that are gone.
 */
export async function heapObjectCounts(
  url: string,
  names: readonly string[],
  timeoutMs = 120_000,
): Promise<Record<string, number>> {
  const chunks: string[] = [];
  await session(
    url,
    timeoutMs,
    async (call) => {
      await call("HeapProfiler.collectGarbage");
      await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    },
    (chunk) => chunks.push(chunk),
  );
  const snap = JSON.parse(chunks.join("")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields.length;
  const objectType = snap.snapshot.meta.node_types[0].indexOf("object");
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (let i = 0; i < snap.nodes.length; i += fields) {
    if (snap.nodes[i] !== objectType) continue;
    const name = snap.strings[snap.nodes[i + 1]];
    if (Object.hasOwn(counts, name)) counts[name]++;
  }
  return counts;
}

type Call = (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>;

async function session<T>(
  url: string,
  timeoutMs: number,
  run: (call: Call) => Promise<T>,
  onChunk?: (chunk: string) => void,
): Promise<T> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    let next = 1;
    const pending = new Map<number, (r: Record<string, unknown>) => void>();
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as {
        id?: number;
        method?: string;
        params?: { chunk?: string };
        result?: Record<string, unknown>;
      };
      if (msg.method === "HeapProfiler.addHeapSnapshotChunk") onChunk?.(msg.params?.chunk ?? "");
      if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? {});
    });
    const call: Call = (method, params) =>
      new Promise((resolve, reject) => {
        const id = next++;
        const t = setTimeout(
          () => reject(new Error(`inspector ${method}: no answer in ${timeoutMs} ms`)),
          timeoutMs,
        );
        pending.set(id, (r) => {
          clearTimeout(t);
          pending.delete(id);
          resolve(r);
        });
        ws.send(JSON.stringify({ id, method, params }));
      });
    return await run(call);
  } finally {
    ws.close();
  }
}
