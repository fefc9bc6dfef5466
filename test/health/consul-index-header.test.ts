// X-Consul-Index misbehaving (what a proxy in front of Consul, or a broken server, may do;
// Consul itself always sends it and never 0): a real HTTP server on 127.0.0.1 answers first
// without the header, then with "0", then with a normal index. Without the header every next
// query is non-blocking (paced by the token bucket): warned once per streak, not per answer
// (before: a warning on every answer, ~2 a second). A 0 is clamped to 1 before it is compared
// (before: 0 after 1 counted as "went backwards" on every answer, logging each).

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { consulAgentSchema, poolConsulSchema } from "../../config/file/schema.js";
import { ConsulWatcher } from "../../health/consul-watcher.js";
import { eventually } from "../support/wait.js";

const BODY = JSON.stringify([
  {
    Node: { Node: "n1", Address: "127.0.0.1" },
    Service: { ID: "a1", Service: "s", Port: 80, Tags: [], Meta: {} },
    Checks: [{ CheckID: "c-a1", Status: "passing" }],
  },
]);

test("missing X-Consul-Index is warned once per streak; a 0 is clamped to 1, never a reset", async (t) => {
  let phase: "missing" | "zero" | "normal" = "missing";
  let answers = 0;
  const server = http.createServer((_req, res) => {
    answers++;
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (phase === "zero") headers["X-Consul-Index"] = "0";
    if (phase === "normal") headers["X-Consul-Index"] = "7";
    res.writeHead(200, headers);
    // A normal answer blocks like Consul would at an unchanged index (the test's stop() ends it).
    if (phase === "normal" && _req.url?.includes("index=7")) return;
    res.end(BODY);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const lines: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (_o: object, msg?: string) => {
    lines.push({ level, msg: msg ?? "" });
  };
  const w = new ConsulWatcher({
    discovery: poolConsulSchema.parse({ service: "s" }),
    agent: consulAgentSchema.parse({
      address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      rateLimit: 20,
      wait: 5000,
    }),
    seed: 1,
    rateBurst: 4,
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
  });
  t.after(() => w.stop());
  w.start();
  await w.whenSynced();
  await eventually("ten answers without the header", () => (answers >= 10 ? true : undefined), 30_000);
  const missingWarns = lines.filter((l) => l.level === "warn" && /X-Consul-Index/.test(l.msg));
  assert.equal(missingWarns.length, 1, JSON.stringify(lines.slice(0, 20)));
  assert.equal(w.status().index, 0, "no usable index: the next query does not block");

  phase = "zero";
  const atZero = answers;
  await eventually("ten answers with index 0", () => (answers >= atZero + 10 ? true : undefined), 30_000);
  assert.ok(
    lines.some((l) => l.level === "info" && /usable again/.test(l.msg)),
    "the streak's end is logged",
  );
  assert.equal(w.status().indexResets, 0, "a 0 is not the index going backwards");
  assert.ok(!lines.some((l) => /went backwards/.test(l.msg)), JSON.stringify(lines.slice(-5)));
  assert.equal(w.status().index, 1, "never below 1 after an answer");

  phase = "normal";
  await eventually("the index 7 to be followed", () => (w.status().index === 7 ? true : undefined), 30_000);
  assert.equal(w.status().consecutiveErrors, 0);
});
