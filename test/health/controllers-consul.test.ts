// Membership controller end to end on one side: the real ConsulWatcher against
// consulTarget() (the Consul double, or a real agent when CONSUL_HTTP_ADDR is set), real
// timers (a debounce window longer than the default, see below), and a one-replica cluster that validates and applies
// each proposal. Latencies are printed as diagnostics, never asserted.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { consulAgentSchema } from "../../config/file/schema.js";
import { ConsulWatcher } from "../../health/consul-watcher.js";
import { MembershipController } from "../../health/membership-controller.js";
import { agentClient, uniqueName } from "../support/consul/agent-ops.js";

import { suiteConsul } from "../support/consul/suite-consul.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { eventually, scaled } from "../support/wait.js";
import { TestCluster } from "./controllers-fakes.js";

const SEED = testSeed(5151);
const random = seededRandom(SEED);
const DEBOUNCE_MS = scaled(1_500);
const why = (s: string) => `${s} (seed=${SEED})`;

describe("MembershipController with the real ConsulWatcher (double, or agent via CONSUL_HTTP_ADDR)", () => {
  const controllers: MembershipController[] = [];
  const suite = suiteConsul(SEED, async () => {
    for (const c of controllers) await c.stop();
  });

  function start(service: string) {
    const clock = { now: () => performance.now() };
    const cluster = new TestCluster(
      `pools:
  users:
    discovery: { consul: { service: ${service}, passingOnly: true } }
routes:
  - pool: users
    key: [header:x-user-id]
`,
      clock,
    );
    const c = new MembershipController({
      getState: cluster.getState,
      propose: cluster.propose,
      agent: consulAgentSchema.parse({
        address: `http://${suite.target.host}:${suite.target.port}`,
        token: suite.target.token ?? "",
        // Default rate limit; a short wait only so stop() is quick on an agent.
        wait: 5000,
      }),
      // The flap below (critical, then passing: two calls to the agent) must land inside one
      // debounce window; at the default 200 ms the two calls came further apart than that at
      // load 34, and the controller rightly proposed down and up. A longer window (max delay
      // follows it) keeps the flap a flap on a loaded machine; it is still a real timer.
      debounceMs: DEBOUNCE_MS,
      watcherFactory: (_pool, o) => new ConsulWatcher({ ...o, backoffBaseMs: 20, backoffMaxMs: 200 }),
    });
    controllers.push(c);
    cluster.onApplied = () => c.refresh();
    c.start();
    return { cluster, c };
  }

  async function register(service: string, id: string, port: number): Promise<void> {
    await suite.register({ Name: service, ID: id, Port: port, Check: { TTL: "60s", Status: "passing" } });
  }

  /** Runs `change`, then waits for the next committed proposal; returns it and the latency. */
  async function expectCommand(cluster: TestCluster, what: string, change: () => Promise<unknown>) {
    const n = cluster.proposals.length;
    const t0 = performance.now();
    await change();
    const p = await eventually(what, () => cluster.proposals[n], 5000 + 2 * DEBOUNCE_MS, 5);
    return { text: cluster.committed()[cluster.committed().length - 1], ms: p.at - t0 };
  }

  test("register, critical, passing, flap, deregister -> the expected commands; 3 of 4 critical -> panic", async (t) => {
    const service = uniqueName("ctl", random);
    const { cluster, c } = start(service);
    await eventually("watcher synced", () => (c.status().users?.watcher?.synced ? true : undefined));
    const consul = agentClient(suite.target);
    const ids = [1, 2, 3, 4].map((i) => `${service}-${i}`);
    const latencies: number[] = [];

    const reg = await expectCommand(cluster, "SetMembers for 4 registrations", async () => {
      for (let i = 0; i < 4; i++) await register(service, ids[i], 9101 + i);
    });
    await eventually("4 members committed", () =>
      cluster.current.pools.users.members.length === 4 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 400));
    const setMembers = cluster.committed().filter((s) => s.startsWith("SetMembers"));
    assert.ok(
      setMembers.length <= 2,
      why(`registrations collapsed into few commands: ${setMembers.join(" | ")}`),
    );
    assert.ok(cluster.current.pools.users.members.every((m) => m.healthy && m.source === "consul"));
    latencies.push(reg.ms);

    const down = await expectCommand(cluster, "SetHealth down", () =>
      consul.agent.check.fail({ id: `service:${ids[1]}`, note: "test" }),
    );
    assert.equal(down.text, `SetHealth users ${ids[1]}=down`);
    latencies.push(down.ms);

    const up = await expectCommand(cluster, "SetHealth up", () =>
      consul.agent.check.pass({ id: `service:${ids[1]}` }),
    );
    assert.equal(up.text, `SetHealth users ${ids[1]}=up`);
    latencies.push(up.ms);

    // A flap inside the debounce window: critical and straight back. Instead of waiting and
    // seeing nothing, a real change follows: the next command must be that change's, with no
    // SetHealth for the flapped member before or in it.
    const beforeFlap = cluster.committed().length;
    await consul.agent.check.fail({ id: `service:${ids[2]}` });
    await consul.agent.check.pass({ id: `service:${ids[2]}` });

    const gone = await expectCommand(cluster, "SetMembers without the deregistered member", () =>
      consul.agent.service.deregister(ids[3]),
    );
    assert.ok(gone.text.startsWith("SetMembers users") && !gone.text.includes(ids[3]), gone.text);
    const sinceFlap = cluster.committed().slice(beforeFlap);
    assert.deepEqual(
      sinceFlap,
      [gone.text],
      `a flap inside the window proposes nothing: ${sinceFlap.join(" | ")}`,
    );
    latencies.push(gone.ms);

    await expectCommand(cluster, "SetMembers with the member back", () => register(service, ids[3], 9104));
    const beforePanic = cluster.proposals.length;
    await Promise.all([1, 2, 3].map((i) => consul.agent.check.fail({ id: `service:${ids[i]}` })));
    const s = await eventually("panic", () => (c.status().users.panic ? c.status().users : undefined));
    assert.equal(s.wouldBeHealthy, 1);
    assert.equal(s.total, 4);
    // Instead of waiting and seeing nothing: a real change follows (a new passing instance),
    // and the first command after the panic must be that one, with no unhealthy marks before it.
    const committedAtPanic = cluster.committed().length;
    const added = await expectCommand(cluster, "SetMembers with the extra member (during the panic)", () =>
      register(service, `${service}-extra`, 9109),
    );
    assert.ok(
      added.text.startsWith("SetMembers users") && added.text.includes(`${service}-extra`),
      added.text,
    );
    assert.deepEqual(
      cluster.committed().slice(committedAtPanic),
      [added.text],
      "the guard proposed no unhealthy marks",
    );
    assert.ok(
      cluster.current.pools.users.members.every((m) => m.healthy),
      "every member still routable",
    );
    await Promise.all([1, 2, 3].map((i) => consul.agent.check.pass({ id: `service:${ids[i]}` })));
    await eventually("panic over", () => (c.status().users.panic ? undefined : true));
    // Again a real change follows instead of a wait: it must be the only command since the panic.
    const committedAtRecovery = cluster.committed().length;
    const removed = await expectCommand(cluster, "SetMembers without the extra member", () =>
      consul.agent.service.deregister(`${service}-extra`),
    );
    assert.ok(removed.text.startsWith("SetMembers users") && !removed.text.includes("extra"), removed.text);
    assert.deepEqual(
      cluster.committed().slice(committedAtRecovery),
      [removed.text],
      "recovery to the committed state proposes nothing",
    );
    assert.equal(cluster.proposals.length, beforePanic + 2, "only the two real changes were proposed");

    assert.equal(c.status().users.failedProposals, 0, "every command validated and applied");
    const sorted = [...latencies].sort((a, b) => a - b);
    t.diagnostic(
      `consul change -> committed command (debounce ${DEBOUNCE_MS} ms, ${suite.target.kind}): ${latencies.map((x) => x.toFixed(0)).join(", ")} ms; median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`,
    );
  });
});
