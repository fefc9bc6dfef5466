// The Raft leader's count of forwarded proposals it refused for the cluster state bound
// (driver counters.forwardedTooLarge, test/outside/bounded-raft-state-forwarded.test.ts makes
// it rise) is exported as shardgate_raft_forwarded_too_large_total: a counter carrying the
// driver's figure, accepted by promtool, and present in a real process's /metrics. It was
// counted but reached no metric.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { registerClusterMetrics } from "../../proxy/metrics/cluster-metrics.js";
import { fixedClusterSource } from "../support/cluster-metrics-source.js";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { promtoolCheckMetrics } from "../support/promtool.js";

const NAME = "shardgate_raft_forwarded_too_large_total";

/** The lines of `text` that belong to NAME's family (HELP, TYPE, samples). */
function family(text: string): string {
  return text
    .split("\n")
    .filter(
      (l) => l.startsWith(`${NAME} `) || l.startsWith(`# HELP ${NAME} `) || l.startsWith(`# TYPE ${NAME} `),
    )
    .join("\n");
}

describe("forwarded proposals refused for the state bound, as a metric", () => {
  test("a counter with the driver's figure, with help, and promtool accepts it", async () => {
    const registry = new Registry();
    registerClusterMetrics(registry, fixedClusterSource({ forwardedTooLarge: 5 }));
    const text = await registry.metrics();
    const f = family(text);
    assert.match(f, new RegExp(`^# TYPE ${NAME} counter$`, "m"), text);
    assert.match(f, new RegExp(`^# HELP ${NAME} \\S.*$`, "m"));
    assert.equal(Number(new RegExp(`^${NAME} (\\S+)$`, "m").exec(f)?.[1]), 5, f);
    const lint = await promtoolCheckMetrics(`${f}\n`);
    assert.equal(lint.code, 0, lint.out);
    assert.equal(lint.out.trim(), "", "no promtool findings");
  });

  describe("a real process", () => {
    const fx = echoBehindProxy({ prefix: "ftl" });

    test("exports it, read from its Raft driver (0 in a lone instance)", async () => {
      const text = await (await fetch(`${fx.sg.adminUrl}/metrics`)).text();
      assert.match(text, new RegExp(`^# TYPE ${NAME} counter$`, "m"), `${NAME} declared`);
      assert.match(text, new RegExp(`^${NAME} 0$`, "m"), `${NAME} sampled`);
    });
  });
});
