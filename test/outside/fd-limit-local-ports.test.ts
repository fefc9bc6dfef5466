// Tried from the outside: no local port left towards a member. In an unprivileged network
// namespace (unshare -rn) a driver (test/support/port-exhaustion-driver.ts) narrows
// net.ipv4.ip_local_port_range to two ports and takes both towards the member, so shardgate's
// dial fails with a real EADDRNOTAVAIL: the instance's shortage, not the member's failure. It
// was a connect failure (502 upstream_connect_failed, upstream_errors_total kind="connect", a
// local skip, the member's breaker: 3 in a row opened it for the fleet); now it is 503
// local_resource_exhausted and nothing counts against the member; the warning says no local
// port is left; once the range is wide again the same process serves 200. Per engine, and a
// WebSocket upgrade (http-proxy-3).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { reapOnExit } from "../support/child-reaper.js";
import { ENGINES } from "../support/per-engine.js";
import type { PortExhaustionReport } from "../support/port-exhaustion-driver.js";
import { metricValue } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const DRIVER = fileURLToPath(
  new URL(`../support/port-exhaustion-driver.${FROM_SOURCE ? "ts" : "js"}`, import.meta.url),
);
const DRIVER_MS = 90_000;

/** Why the namespace cannot be made here (no unprivileged user namespaces, no `ip`), or null. */
function namespaceUnavailable(): string | null {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  const r = spawnSync("unshare", ["-rn", "ip", "link", "set", "lo", "up"], { encoding: "utf8" });
  return r.status === 0 ? null : `unshare -rn with ip link is not available: ${r.stderr || r.error}`;
}
const SKIP = namespaceUnavailable();

function runDriver(engine: string): Promise<PortExhaustionReport> {
  return new Promise((resolve, reject) => {
    const pre = FROM_SOURCE ? ["--import", "tsx"] : [];
    const child = reapOnExit(
      spawn("unshare", ["-rn", process.execPath, ...pre, DRIVER, engine], {
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), scaled(DRIVER_MS));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      if (code !== 0) {
        reject(new Error(`driver exited ${code ?? signal}\n${err}\n${out}`));
        return;
      }
      resolve(JSON.parse(line) as PortExhaustionReport);
    });
  });
}

for (const engine of ENGINES) {
  test(`${engine}: a dial with no local port left (EADDRNOTAVAIL) is 503 local_resource_exhausted, never the member's failure`, {
    skip: SKIP ?? false,
  }, async () => {
    const r = await runDriver(engine);
    assert.equal(r.probeCode, "EADDRNOTAVAIL", "the squeeze left no port towards the member");
    for (const a of [r.upgrade, ...r.answers]) {
      assert.match(a, /^HTTP\/1\.1 503 /, a);
      assert.match(a, /"error":"local_resource_exhausted"/, a);
    }
    assert.equal(r.afterStatus, 200, "serves again once ports are free");
    for (const kind of ["connect", "reset", "timeout"])
      assert.equal(
        metricValue(r.metrics, "shardgate_upstream_errors_total", { pool: "users", member: "s1", kind }) ?? 0,
        0,
        `upstream_errors_total kind=${kind}`,
      );
    const state = r.state as {
      pools: { users: { members: { id: string; breaker: string }[] } };
      descriptors: { last?: { op: string; code: string } };
    };
    assert.equal(state.pools.users.members[0]?.breaker, "closed", JSON.stringify(state.pools));
    assert.deepEqual(
      state.descriptors.last && { op: state.descriptors.last.op, code: state.descriptors.last.code },
      {
        op: "upstream_connect",
        code: "EADDRNOTAVAIL",
      },
    );
    assert.ok(r.warnings.length >= 1, "a warning names the shortage");
    for (const l of r.access as { error: string }[]) assert.equal(l.error, "local_resource_exhausted");
  });
}
