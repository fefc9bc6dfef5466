// shardgate_raft_refused_total's reasons cannot drift from the code that refuses: the HELP
// text named three of the six reasons (append_from_non_member and cluster_mismatch came later
// and were exported without a word in it). The metric now takes its reasons and its help from
// one list (proxy/metrics/cluster-metrics.ts) built on the core's REFUSAL_REASONS. Checked
// here: every reason the core can refuse with and every one a real driver counts is in the
// list, the help names each, one series per reason carries its count, and promtool accepts it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Registry } from "prom-client";
import { REFUSAL_REASONS } from "../../config/raft/core/index.js";
import { RaftDriver } from "../../config/raft/driver.js";
import {
  RAFT_REFUSED_REASONS,
  type RaftRefusedReason,
  registerClusterMetrics,
} from "../../proxy/metrics/cluster-metrics.js";
import { fixedClusterSource } from "../support/cluster-metrics-source.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";

const root = mkdtempSync(join(tmpdir(), "sg-refused-reasons-"));
after(() => rmSync(root, { recursive: true, force: true }));

describe("shardgate_raft_refused_total reasons", () => {
  test("every reason the core refuses with, and every one a real driver counts, is listed", () => {
    for (const r of REFUSAL_REASONS) assert.ok(RAFT_REFUSED_REASONS.includes(r), `core reason ${r}`);
    const d = new RaftDriver(testDriverOptions(root, "refused-reasons-secret-0123456789", "a", {}));
    const counted = Object.keys(d.counters.refused);
    assert.ok(counted.length >= REFUSAL_REASONS.length, `the driver counts ${counted.join(", ")}`);
    for (const r of counted)
      assert.ok((RAFT_REFUSED_REASONS as readonly string[]).includes(r), `driver reason ${r}`);
    assert.equal(new Set(RAFT_REFUSED_REASONS).size, RAFT_REFUSED_REASONS.length, "no reason twice");
  });

  test("the help names every reason; each has its series with its count; promtool accepts it", async () => {
    const counts = Object.fromEntries(RAFT_REFUSED_REASONS.map((r, i) => [r, 10 * (i + 1)])) as Record<
      RaftRefusedReason,
      number
    >;
    const registry = new Registry();
    registerClusterMetrics(registry, fixedClusterSource({ level: 2, refused: counts }));
    const text = await registry.metrics();
    const help = /^# HELP shardgate_raft_refused_total (.*)$/m.exec(text)?.[1];
    assert.ok(help !== undefined, text);
    for (const r of RAFT_REFUSED_REASONS) assert.ok(help.includes(r), `help lacks ${r}: ${help}`);
    const samples = Object.fromEntries(
      [...text.matchAll(/^shardgate_raft_refused_total\{reason="([^"]+)"\} (\S+)$/gm)].map((m) => [
        m[1],
        Number(m[2]),
      ]),
    );
    assert.deepEqual(samples, counts);
    const family = text
      .split("\n")
      .filter((l) => l.includes("shardgate_raft_refused_total"))
      .join("\n");
    const lint = await promtoolCheckMetrics(`${family}\n`);
    assert.equal(lint.code, 0, lint.out);
    assert.equal(lint.out.trim(), "", "no promtool findings");
  });
});
