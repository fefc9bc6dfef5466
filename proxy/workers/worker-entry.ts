// The file node:cluster runs in a worker: before the worker's module graph loads (a few
// hundred ms on a busy machine, during which Node's defaults rule), it takes the stop signals
// (held until the worker listens: a group SIGTERM or Ctrl-C during start killed workers and
// failed the primary's start), SIGUSR1/SIGUSR2, and EPIPE on stdout/stderr. Only tiny
// modules are imported statically here; worker-main.ts is loaded afterwards.

import { holdSignals } from "../app/early-signals.js";
import { guardStdStreams } from "../app/std-streams.js";
import { quietStraySignals } from "../app/stray-signals.js";

holdSignals();
quietStraySignals();
guardStdStreams();
await import(import.meta.url.endsWith(".ts") ? "./worker-main.ts" : "./worker-main.js");
