// A full garbage collection on demand, for the overload guard (overload.ts) only (Envoy's
// overload manager has the same action: "shrink heap"). Buffers a finished request let go
// stay counted in V8's external memory until a collection runs, and a process that sheds its
// traffic (and whose /readyz sends the rest elsewhere) allocates too little to trigger one: it
// would stay "overloaded" with its memory already free. Node offers no collection call without
// --expose-gc; the flag is set at run time and `gc` taken from a fresh context, once, then
// unset: left set, every context and worker thread created later (vm, the config-loading
// worker) got a global `gc` too.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let collect: (() => void) | null | undefined;

/** Runs a full collection; false when this runtime offers none (then nothing happens). */
export function collectGarbage(): boolean {
  if (collect === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      const gc: unknown = runInNewContext("gc");
      collect = typeof gc === "function" ? (gc as () => void) : null;
    } catch {
      collect = null;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  if (collect === null) return false;
  collect();
  return true;
}
