// Memory overload protection's metrics (proxy/server/overload.ts): the level the process is at
// (0 normal, 1 shedding requests, 2 refusing connections too), the fraction of its memory
// budget in use, the part of it estimated for open TLS connections, and what was shed. With
// workers: N the primary reports the highest level and usage of any process and the sums of
// their estimates and of what they shed.

import { Counter, Gauge, type Registry } from "prom-client";

export interface OverloadMetrics {
  shed(what: "request" | "connection"): void;
}

export function registerOverloadMetrics(
  registry: Registry,
  read: () => { level: number; usage: number; tlsBytes: number },
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
  // The part of the usage that is an estimate, not a reading (tls-memory.ts): it follows the open
  // TLS connections, so a slot held by a client long gone shows here. With workers: N the
  // primary's figure already sums its workers' beats, and a worker's own answer to the scrape is
  // part of that sum: the highest is taken, not the sum (a worker too busy to answer in time, the
  // one likely to hold them, read as 0 when only the answers were summed).
  new Gauge({
    name: "shardgate_memory_tls_estimate_bytes",
    help: "Memory counted for the open TLS connections of the proxy listener (32 KiB each), which neither RSS growth nor V8's accounting shows at once; part of shardgate_memory_usage_ratio.",
    aggregator: "max",
    registers,
    collect() {
      this.set(read().tlsBytes);
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
