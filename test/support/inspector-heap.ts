// The V8 heap of a child process, read from outside after a full GC, for leak checks: the
// child runs with NODE_OPTIONS=--inspect=127.0.0.1:0 (loopback, a free port), prints its
// inspector's WebSocket URL on stderr, and this asks it over the Chrome DevTools protocol
// (HeapProfiler.collectGarbage, then Runtime.getHeapUsage). No code of the child changes.

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
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    let next = 1;
    const pending = new Map<number, (r: Record<string, unknown>) => void>();
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: Record<string, unknown> };
      if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? {});
    });
    const call = (method: string): Promise<Record<string, unknown>> =>
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
        ws.send(JSON.stringify({ id, method }));
      });
    await call("HeapProfiler.collectGarbage");
    await call("HeapProfiler.collectGarbage");
    const usage = await call("Runtime.getHeapUsage");
    return Number(usage.usedSize);
  } finally {
    ws.close();
  }
}
