// Memory overload protection's metrics (proxy/server/overload.ts): the level the process is at
// (0 normal, 1 shedding requests, 2 refusing connections too), the fraction of its memory
// budget in use, and what was shed. With workers: N the primary reports the highest level and
// usage of any process and the sum of what they shed.

import { Counter, Gauge, type Registry } from "prom-client";

export interface OverloadMetrics {
  shed(what: "request" | "connection"): void;
}

export function registerOverloadMetrics(
  registry: Registry,
  read: () => { level: number; usage: number },
): OverloadMetrics {
  const registers = [registry];
  new Gauge({
    name: "shardgate_overload_state",
    help: "Memory overload level of the process: 0 normal, 1 shedding new requests (limits.shedAt), 2 refusing new connections too (limits.refuseAt).",
    aggregator: "max",
    registers,
    collect() {
      this.set(read().level);
    },
  });
  new Gauge({
    name: "shardgate_memory_usage_ratio",
    help: "Fraction of the memory budget in use at the last sample (the larger of RSS / limits.memory and V8 heap / V8's heap limit).",
    aggregator: "max",
    registers,
    collect() {
      this.set(Math.round(read().usage * 1000) / 1000);
    },
  });
  const shed = new Counter({
    name: "shardgate_overload_shed_total",
    help: "Work shed while over a memory threshold: requests answered 503 overloaded (what=request) and connections refused (what=connection).",
    labelNames: ["what"],
    registers,
  });
  shed.inc({ what: "request" }, 0);
  shed.inc({ what: "connection" }, 0);
  return { shed: (what) => shed.inc({ what }) };
}
