// k8s/grafana against a real shardgate: every metric name in the Grafana dashboard's and the
// alert rules' expressions is one a running shardgate exports on /metrics (by its # TYPE
// line; histograms count with their _bucket/_sum/_count series), and the alert rules pass
// `promtool check rules` and their unit tests (`promtool test rules`).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import YAML from "yaml";
import { freePorts } from "../support/ports.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const run = promisify(execFile);
const DIR = fileURLToPath(new URL("../../../k8s/grafana/", import.meta.url));
/** PromQL words that look like names but are functions, keywords or label names. */
const METRIC = /\b(shardgate_[a-z0-9_]+)\b/g;

/** Exported metric names: each # TYPE line, and for histograms/summaries their sample series. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]);
    if (m[2] === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m[1] + s);
    if (m[2] === "summary") for (const s of ["_sum", "_count"]) names.add(m[1] + s);
  }
  return names;
}

function dashboardExprs(): string[] {
  const dash = JSON.parse(readFileSync(`${DIR}shardgate-dashboard.json`, "utf8")) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ query?: unknown }> };
  };
  const out: string[] = [];
  for (const p of dash.panels) for (const t of p.targets ?? []) out.push(t.expr);
  for (const v of dash.templating.list) if (typeof v.query === "string") out.push(v.query);
  return out;
}

function alertExprs(): Array<{ alert: string; expr: string }> {
  const doc = YAML.parse(readFileSync(`${DIR}alerts.yaml`, "utf8")) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ alert: r.alert, expr: r.expr })));
}

describe("k8s/grafana: dashboard and alert rules", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let names: Set<string>;

  before(async () => {
    ups = await startUpstreams(2, "g");
    // Tracing on (to a port nothing listens on: no request is sent, so no export is tried), so
    // that shardgate_tracing_spans_total, which ShardgateTracingSpansLost reads, is exported.
    const [closed] = await freePorts(1);
    sg = await startShardgate(
      `${poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) })}tracing:
  enabled: true
  otlpEndpoint: "http://127.0.0.1:${closed}/v1/traces"
`,
    );
    const r = await fetch(`${sg.adminUrl}/metrics`);
    names = exported(await r.text());
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("every dashboard expression names only exported metrics", () => {
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 15, `the dashboard has its panels (${exprs.length} expressions)`);
    const missing: string[] = [];
    let used = 0;
    for (const e of exprs)
      for (const m of e.matchAll(METRIC)) {
        used++;
        if (!names.has(m[1])) missing.push(`${m[1]} in ${e}`);
      }
    assert.ok(used >= exprs.length - 1, "expressions name shardgate metrics");
    assert.deepEqual(
      missing,
      [],
      `exported: ${[...names]
        .filter((n) => n.startsWith("shardgate_"))
        .sort()
        .join(" ")}`,
    );
  });

  test("every alert expression names only exported metrics, and the fourteen alerts exist", () => {
    const rules = alertExprs();
    assert.deepEqual(rules.map((r) => r.alert).sort(), [
      "ShardgateAtDescriptorLimit",
      "ShardgateBreakerOpen",
      "ShardgateConfigDrift",
      "ShardgateDiscoveryFailing",
      "ShardgateDiscoveryResyncStorm",
      "ShardgateFollowerLagging",
      "ShardgateHigh5xx",
      "ShardgateMemoryOverload",
      "ShardgateNoLeader",
      "ShardgatePoolPanic",
      "ShardgateRaftRefusedTraffic",
      "ShardgateRaftSnapshotRefused",
      "ShardgateTracingSpansLost",
      "ShardgateUpstreamLookupsFailing",
    ]);
    const missing = rules.flatMap((r) =>
      [...r.expr.matchAll(METRIC)].map((m) => m[1]).filter((n) => !names.has(n)),
    );
    assert.deepEqual(missing, []);
  });

  test("promtool check rules and promtool test rules pass", async () => {
    const check = await run("promtool", ["check", "rules", "alerts.yaml"], { cwd: DIR });
    assert.match(check.stdout + check.stderr, /SUCCESS: 14 rules found/);
    const unit = await run("promtool", ["test", "rules", "alerts.test.yaml"], { cwd: DIR });
    assert.match(unit.stdout + unit.stderr, /SUCCESS/);
  });
});
