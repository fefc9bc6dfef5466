// Health controller tests: static members' active-check flips become SetHealth commands on
// the leader, behind the panic guard. Unit tests drive a hand-made checker on a fake clock;
// one test runs the real ActiveHealthChecker against loopback HTTP servers.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import type { HealthCheckConfig } from "../../config/file/schema.js";
import type { CheckTarget, MemberCheckState } from "../../health/active-check.js";
import { HealthController, type MemberChecker } from "../../health/health-controller.js";
import { eventually } from "../support/wait.js";
import { FakeClock, TestCluster } from "./controllers-fakes.js";

const YAML = `pools:
  web:
    members:
      - { id: w1, address: "127.0.0.1:9101" }
      - { id: w2, address: "127.0.0.1:9102" }
      - { id: w3, address: "127.0.0.1:9103" }
      - { id: w4, address: "127.0.0.1:9104" }
    healthCheck: { path: /health, interval: 1s, timeout: 500ms, expectStatus: ["200-204", "301"] }
  bare:
    members:
      - { id: b1, address: "127.0.0.1:9201" }
routes:
  - pool: web
    key: [header:x-user-id]
`;

class HandChecker implements MemberChecker {
  targets: CheckTarget[] = [];
  stopped = false;
  private readonly health = new Map<string, boolean>();
  constructor(
    readonly check: HealthCheckConfig,
    private readonly onChange: (m: string, h: boolean, r: string) => void,
  ) {}
  setMembers(members: readonly CheckTarget[]): void {
    this.targets = [...members];
  }
  states(): MemberCheckState[] {
    return this.targets.map((t) => ({
      id: t.id,
      healthy: this.health.get(t.id),
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      lastReason: "",
      probes: 1,
    }));
  }
  stop(): void {
    this.stopped = true;
  }
  set(id: string, healthy: boolean): void {
    this.health.set(id, healthy);
    this.onChange(id, healthy, "test");
  }
}

function setup() {
  const clock = new FakeClock();
  const cluster = new TestCluster(YAML, clock);
  const checkers = new Map<string, HandChecker>();
  const c = new HealthController({
    getState: cluster.getState,
    propose: cluster.propose,
    clock,
    checkerFactory: (pool, check, onChange) => {
      const h = new HandChecker(check, onChange);
      checkers.set(pool, h);
      return h;
    },
  });
  cluster.onApplied = () => c.refresh();
  const healthy = (id: string, pool = "web") =>
    cluster.current.pools[pool].members.find((m) => m.id === id)?.healthy;
  return { clock, cluster, c, checkers, healthy };
}

describe("HealthController", () => {
  test("flips become one SetHealth per burst; unprobed members keep their committed health", async () => {
    const { clock, cluster, c, checkers, healthy } = setup();
    c.start();
    const h = checkers.get("web");
    assert.ok(h);
    assert.deepEqual(
      h.targets.map((t) => `${t.id}:${t.port}`),
      ["w1:9101", "w2:9102", "w3:9103", "w4:9104"],
    );
    h.set("w1", true);
    h.set("w2", false);
    await clock.advance(100);
    assert.deepEqual(cluster.committed(), ["SetHealth web w2=down"]);
    assert.equal(healthy("w2"), false);
    h.set("w2", true);
    await clock.advance(100);
    assert.equal(healthy("w2"), true);
    assert.equal(cluster.proposals.length, 2);
    c.stop();
    assert.equal(h.stopped, true);
  });

  test("panic guard: 3 of 4 failing keeps them routable", async () => {
    const { clock, cluster, c, checkers, healthy } = setup();
    c.start();
    const h = checkers.get("web") as HandChecker;
    for (const id of ["w1", "w2", "w3"]) h.set(id, false);
    h.set("w4", true);
    await clock.advance(100);
    assert.equal(cluster.proposals.length, 0);
    assert.equal(c.status().web.panic, true);
    assert.equal(c.status().web.wouldBeHealthy, 1);
    assert.ok(["w1", "w2", "w3"].every((id) => healthy(id)));
    h.set("w1", true);
    await clock.advance(100);
    assert.equal(c.status().web.panic, false);
    assert.deepEqual(cluster.committed(), ["SetHealth web w2=down,w3=down"]);
    c.stop();
  });

  test("a pool without checks gets its unhealthy static members marked healthy", async () => {
    const { clock, cluster, c, healthy } = setup();
    cluster.applyNow({ v: 1, type: "SetHealth", pool: "bare", health: [{ member: "b1", healthy: false }] });
    c.start();
    await clock.advance(0);
    assert.equal(healthy("b1", "bare"), true);
    c.stop();
  });

  test("the checker is given the committed healthCheck section as the schema produced it", () => {
    const { cluster, c, checkers } = setup();
    c.start();
    const check = checkers.get("web")?.check;
    assert.equal(check, cluster.current.pools.web.settings.healthCheck, "the committed object itself");
    assert.deepEqual(check, {
      path: "/health",
      interval: 1000,
      timeout: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      expectStatus: [
        { from: 200, to: 204 },
        { from: 301, to: 301 },
      ],
    });
    c.stop();
  });

  test("with the real ActiveHealthChecker against loopback servers", async (t) => {
    let failing = false;
    const servers: http.Server[] = [];
    for (let i = 0; i < 4; i++) {
      const s = http.createServer((_req, res) => {
        res.statusCode = i === 0 && failing ? 503 : 200;
        res.end("ok");
      });
      await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
      servers.push(s);
    }
    t.after(async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    });
    const ports = servers.map((s) => (s.address() as AddressInfo).port);
    const cluster = new TestCluster(`pools:
  web:
    members:
${ports.map((p, i) => `      - { id: w${i + 1}, address: "127.0.0.1:${p}" }`).join("\n")}
    # A loopback probe past 200ms is the loaded machine's, not the member's: it must not flip anything.
    healthCheck: { path: /health, interval: 200ms, timeout: 200ms, healthyThreshold: 1, unhealthyThreshold: 2 }
routes:
  - pool: web
    key: [header:x-user-id]
`);
    const c = new HealthController({ getState: cluster.getState, propose: cluster.propose });
    cluster.onApplied = () => c.refresh();
    t.after(() => c.stop());
    let probes = 0;
    for (const srv of servers) srv.on("request", () => probes++);
    c.start();
    // Every member answered at least 3 probes (well past healthyThreshold 1): had anything
    // been proposed for an all-healthy pool, it would be there by now.
    await eventually("3 probe rounds", () => (probes >= 3 * servers.length ? true : undefined));
    assert.equal(cluster.proposals.length, 0, "all healthy: nothing to propose");
    failing = true;
    await eventually("w1 down", () =>
      cluster.current.pools.web.members[0].healthy === false ? true : undefined,
    );
    failing = false;
    await eventually("w1 up", () => (cluster.current.pools.web.members[0].healthy ? true : undefined));
    assert.deepEqual(cluster.committed(), ["SetHealth web w1=down", "SetHealth web w1=up"]);
  });
});
