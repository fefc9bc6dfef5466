// The Raft driver's stepErrors (messages the core threw on, logged as step_error) and
// applyErrors (committed commands the state machine threw on) are exported as
// shardgate_raft_step_errors_total and shardgate_raft_apply_errors_total: counters that carry
// the driver's figures, pass promtool, and are there in a real process's /metrics. They were
// counted but reached no metric.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { registerClusterMetrics } from "../../proxy/metrics/cluster-metrics.js";
import { fixedClusterSource } from "../support/cluster-metrics-source.js";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { promtoolCheckMetrics } from "../support/promtool.js";

const FAMILIES = ["shardgate_raft_step_errors_total", "shardgate_raft_apply_errors_total"];

/** The lines of `text` that belong to `name`'s family (HELP, TYPE, samples). */
function family(text: string, name: string): string {
  return text
    .split("\n")
    .filter(
      (l) =>
        l === `${name}` ||
        l.startsWith(`${name} `) ||
        l.startsWith(`# HELP ${name} `) ||
        l.startsWith(`# TYPE ${name} `),
    )
    .join("\n");
}

describe("Raft step and apply errors as metrics", () => {
  test("each is a counter with the driver's figure, with help, and promtool accepts it", async () => {
    const registry = new Registry();
    registerClusterMetrics(registry, fixedClusterSource({ errors: { step: 7, apply: 3 } }));
    const text = await registry.metrics();
    for (const [name, want] of [
      [FAMILIES[0], 7],
      [FAMILIES[1], 3],
    ] as const) {
      const f = family(text, name);
      assert.match(f, new RegExp(`^# TYPE ${name} counter$`, "m"), text);
      assert.match(f, new RegExp(`^# HELP ${name} \\S.*$`, "m"));
      assert.equal(Number(new RegExp(`^${name} (\\S+)$`, "m").exec(f)?.[1]), want, f);
      const lint = await promtoolCheckMetrics(`${f}\n`);
      assert.equal(lint.code, 0, lint.out);
      assert.equal(lint.out.trim(), "", "no promtool findings");
    }
  });

  describe("a real process", () => {
    const fx = echoBehindProxy({ prefix: "re" });

    test("exports both, read from its Raft driver (0 in a healthy lone instance)", async () => {
      const text = await (await fetch(`${fx.sg.adminUrl}/metrics`)).text();
      for (const name of FAMILIES) {
        assert.match(text, new RegExp(`^# TYPE ${name} counter$`, "m"), `${name} declared`);
        assert.match(text, new RegExp(`^${name} 0$`, "m"), `${name} sampled`);
      }
    });
  });
});
