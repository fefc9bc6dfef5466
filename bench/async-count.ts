// Loaded with `--import` into a forwarder that `npm run bench -- engine-profile --counts`
// measures (never into the product): counts the asynchronous resources the process creates
// per HTTP request it serves, by async_hooks type (PROMISE, Microtask, TickObject, Immediate,
// Timeout, ...). The window opens at the WINDOW_FROM-th request (start-up and warm-up left
// out) and closes at exit, when the counts go as JSON to the file ASYNC_COUNT_FILE names.
// Requests are counted on http.Server's 'request' event, so both peers are counted alike.

import { createHook } from "node:async_hooks";
import { writeFileSync } from "node:fs";
import { Server } from "node:http";

const WINDOW_FROM = Number(process.env.ASYNC_COUNT_FROM ?? 1000);
const out = process.env.ASYNC_COUNT_FILE;

// ASYNC_COUNT_STACKS=Timeout (a type): the distinct creation stacks of that type inside the
// window go into the file too, with how often each occurred (where does it come from?).
const stackType = process.env.ASYNC_COUNT_STACKS ?? "";
const stacks = new Map<string, number>();

const counts = new Map<string, number>();
let base: Map<string, number> | null = null;
let requests = 0;

createHook({
  init(_id, type) {
    counts.set(type, (counts.get(type) ?? 0) + 1);
    if (type === stackType && base !== null) {
      const stack = (new Error().stack ?? "").split("\n").slice(3, 12).join("\n");
      stacks.set(stack, (stacks.get(stack) ?? 0) + 1);
    }
  },
}).enable();

const emit = Server.prototype.emit;
Server.prototype.emit = function countingEmit(this: Server, event: string | symbol, ...args: unknown[]) {
  if (event === "request") {
    requests++;
    if (requests === WINDOW_FROM) base = new Map(counts);
  }
  return Reflect.apply(emit, this, [event, ...args]) as boolean;
} as typeof emit;

process.on("exit", () => {
  if (out === undefined) return;
  const from = base ?? new Map<string, number>();
  const perType: Record<string, number> = {};
  for (const [type, n] of counts) perType[type] = n - (from.get(type) ?? 0);
  const window = base === null ? requests : requests - WINDOW_FROM;
  const top = [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 8);
  writeFileSync(out, JSON.stringify({ requests: window, perType, stacks: top }));
});
