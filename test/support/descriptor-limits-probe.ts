// proxy/app/descriptor-limits.ts in a test process: a DescriptorLimits on its own registry, with
// the log lines it writes kept (warnings as objects, errors by message) and its counter readable.

import { Counter, Registry } from "prom-client";
import { DescriptorLimits } from "../../proxy/app/descriptor-limits.js";

const COUNTER = "t_local_exhausted_total";

export interface DescriptorLimitsProbe {
  limits: DescriptorLimits;
  /** The objects of the warnings it logged, in order. */
  warnings: Record<string, unknown>[];
  /** The messages of the errors it logged, in order. */
  errors: string[];
  /** The counter's first value (the shortages it counted), undefined before any. */
  counted(): Promise<number | undefined>;
}

/** A DescriptorLimits as the app builds it, the clocks left at its defaults; stop() it after. */
export function probeDescriptorLimits(openConnections: () => number): DescriptorLimitsProbe {
  const registry = new Registry();
  const counter = new Counter({ name: COUNTER, help: "t", labelNames: ["op"], registers: [registry] });
  const warnings: Record<string, unknown>[] = [];
  const errors: string[] = [];
  const log = {
    debug() {},
    info() {},
    warn: (o: object) => warnings.push(o as Record<string, unknown>),
    error: (_o: object, msg: string) => errors.push(msg),
  };
  return {
    limits: new DescriptorLimits(log, counter, openConnections),
    warnings,
    errors,
    counted: async () => (await registry.getSingleMetric(COUNTER)?.get())?.values[0]?.value,
  };
}
