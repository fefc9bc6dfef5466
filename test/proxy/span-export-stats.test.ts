// SpanExportStats against a flapping collector (every other export fails, seeded order of
// batch sizes): counts stay exact and the log stays at most one warn and one info line per
// minute. The first version reset the warn line's minute on every recovery, so a collector
// failing every other export logged two lines per export (about two a second).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { Registry } from "prom-client";
import { SpanExportStats } from "../../proxy/tracing/span-export-stats.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(5150);

test("a collector failing every other export: exact counts, at most a warn and an info line a minute", async () => {
  const random = seededRandom(SEED);
  let now = 0;
  const lines: string[] = [];
  const log = {
    debug() {},
    info: (_o: object, m?: string) => lines.push(`info ${m}`),
    warn: (_o: object, m?: string) => lines.push(`warn ${m}`),
    error() {},
  };
  const registry = new Registry();
  const stats = new SpanExportStats(registry, log, () => now);
  let calls = 0;
  const flapping: SpanExporter = {
    export: (_spans, done) => {
      calls++;
      done(
        calls % 2 === 0
          ? { code: ExportResultCode.SUCCESS }
          : { code: ExportResultCode.FAILED, error: new Error("HTTP 503") },
      );
    },
    shutdown: async () => {},
  };
  const exporter = stats.wrap(flapping);
  let sent = { ok: 0, failed: 0 };
  // 10 minutes of one export a second.
  for (let s = 0; s < 600; s++) {
    now = s * 1000;
    const n = 1 + Math.floor(random() * 50);
    const spans = Array.from({ length: n }, () => ({}) as ReadableSpan);
    exporter.export(spans, (r) => {
      if (r.code === ExportResultCode.SUCCESS) sent = { ...sent, ok: sent.ok + n };
      else sent = { ...sent, failed: sent.failed + n };
    });
  }
  const text = await registry.metrics();
  const value = (result: string) =>
    Number(new RegExp(`shardgate_tracing_spans_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1]);
  assert.equal(value("exported"), sent.ok, seedNote(SEED));
  assert.equal(value("failed"), sent.failed, seedNote(SEED));
  assert.equal(value("dropped"), 0);
  const warns = lines.filter((l) => l.startsWith("warn")).length;
  const infos = lines.filter((l) => l.startsWith("info")).length;
  assert.ok(warns >= 1 && warns <= 10, `${warns} warn lines in 10 minutes (${seedNote(SEED)})`);
  assert.ok(infos <= warns, `${infos} info lines for ${warns} warn lines`);
});
