// A follower's proposal that never left it fails at once. A follower forwards a proposal to the
// leader over its own outbound link; when that link is not open (cut, not yet connected, broken
// and reconnecting) the transport used to queue it or drop it, and the caller waited out the
// request timeout (3 s) for "TIMEOUT: outcome unknown". Now the transport refuses it without
// queueing a byte and the driver rejects it with NOT_SENT, naming the leader and the link's
// state: nothing was proposed, so a retry cannot commit it twice. A proposal made while the
// link is being dialled waits for that connection, and a link backing off after a failure
// dials at once for it (the leader may be back). Three real drivers on loopback TCP (and a TCP
// relay in front of the leader). "< 1.5 s" is half of the old hang, not a performance target.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { DriverError, RaftDriver } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { seedNote, testSeed } from "../support/prng.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { loopbackPeers } from "../support/raft-io/loopback-fleet.js";
import { waitFor } from "../support/wait.js";

const SECRET = "unsent-proposal-secret-0123456789";
const SEED = testSeed(1205);
const REQUEST_TIMEOUT_MS = 3000;
const FAST_MS = 1500;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-unsent-"));
const drivers: RaftDriver[] = [];
after(async () => {
  await Promise.all(drivers.map((d) => d.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

interface Fleet {
  leader: RaftDriver;
  follower: RaftDriver;
  sms: Map<RaftDriver, KvStateMachine>;
  peers: Record<string, string>;
}

async function fleet(prefix: string): Promise<Fleet> {
  const ids = [`${prefix}1`, `${prefix}2`, `${prefix}3`];
  const peers = await loopbackPeers(ids);
  const sms = new Map<RaftDriver, KvStateMachine>();
  const mine: RaftDriver[] = [];
  for (const id of ids) {
    const sm = new KvStateMachine();
    const d = new RaftDriver(
      testDriverOptions(root, SECRET, id, peers, {
        bootstrap: ids,
        stateMachine: sm,
        seed: SEED,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      }),
    );
    sms.set(d, sm);
    mine.push(d);
    drivers.push(d);
  }
  await Promise.all(mine.map((d) => d.start()));
  await waitFor(
    () =>
      mine.some(
        (d) =>
          d.status().role === "leader" &&
          mine.every(
            (o) => o.status().leader === d.id && o.transport.stats().peers[d.id]?.connected !== false,
          ),
      ),
    "a leader every node follows, over open links",
    10_000,
  );
  const leader = mine.find((d) => d.status().role === "leader") as RaftDriver;
  const follower = mine.find((d) => d !== leader) as RaftDriver;
  return { leader, follower, sms, peers };
}

/** Proposes on `d` and reports how it settled and how long it took. */
async function timedPropose(
  d: RaftDriver,
  cmd: Uint8Array,
): Promise<{ ms: number; index?: number; err?: DriverError }> {
  const t0 = performance.now();
  try {
    const index = await d.propose(cmd);
    return { ms: performance.now() - t0, index };
  } catch (err) {
    assert.ok(err instanceof DriverError, `a DriverError, got ${String(err)} (${seedNote(SEED)})`);
    return { ms: performance.now() - t0, err };
  }
}

test("a follower cut from the leader fails its proposal at once with NOT_SENT", {
  timeout: 60_000,
}, async () => {
  const { leader, follower } = await fleet("c");
  follower.transport.cut(leader.id);
  // Cut both ways, the follower still takes `leader` as leader until its election timeout.
  assert.equal(follower.status().leader, leader.id);
  const r = await timedPropose(follower, kvCommand("cut", "1"));
  assert.equal(r.index, undefined, `the proposal cannot commit through a cut link (${seedNote(SEED)})`);
  const err = r.err as DriverError;
  assert.equal(
    err.code,
    "NOT_SENT",
    `${err.code}: ${err.message} after ${r.ms.toFixed(0)} ms (${seedNote(SEED)})`,
  );
  assert.ok(r.ms < FAST_MS, `answered after ${r.ms.toFixed(0)} ms, want < ${FAST_MS} (${seedNote(SEED)})`);
  assert.match(err.message, new RegExp(`leader ${leader.id} \\(link cut\\); nothing was proposed`));
  assert.equal(err.leader, leader.id, "the error names the leader");
  follower.transport.heal(leader.id);
});

test("a follower whose link to the leader is down fails at once, and the refused proposal never commits", {
  timeout: 60_000,
}, async () => {
  const { leader, follower, sms, peers } = await fleet("u");
  // Only the follower's outbound link is broken (a port nobody listens on): the leader's
  // heartbeats still reach it, so it keeps following, and every dial fails.
  const [dead] = await freePorts(1);
  follower.setPeerAddress(leader.id, `127.0.0.1:${dead}`);
  await waitFor(
    () => follower.transport.stats().peers[leader.id]?.connected === false,
    "the follower's link to the leader down",
    5000,
  );
  const r = await timedPropose(follower, kvCommand("lost", "1"));
  const err = r.err as DriverError | undefined;
  assert.equal(
    err?.code,
    "NOT_SENT",
    `${err?.code ?? `index ${r.index}`}: ${err?.message ?? ""} after ${r.ms.toFixed(0)} ms (${seedNote(SEED)})`,
  );
  assert.ok(r.ms < FAST_MS, `answered after ${r.ms.toFixed(0)} ms, want < ${FAST_MS} (${seedNote(SEED)})`);
  assert.match(err.message, /\(link (connecting|reconnecting|idle)\); nothing was proposed/);
  assert.equal(follower.status().leader, leader.id, "the follower kept its leader throughout");
  assert.ok(follower.transport.stats().dropped.not_connected >= 1, "counted as not_connected");

  // The outcome was known: once the link is back, the refused command is not sent after all.
  // A proposal made while the link is being dialled again waits for that connection and
  // commits (it is held for the dial, not refused).
  follower.setPeerAddress(leader.id, peers[leader.id]);
  assert.notEqual(follower.transport.linkState(leader.id), "open", "the link is dialled again, not yet open");
  const m = await timedPropose(follower, kvCommand("marker", "1"));
  assert.ok(
    m.index !== undefined,
    `a proposal made while the link is dialled commits: ${m.err?.code} ${m.err?.message} (${seedNote(SEED)})`,
  );
  const marker = m.index;
  await waitFor(
    () => [...sms.keys()].every((d) => d.status().appliedIndex >= marker),
    "every member applied the marker",
    10_000,
  );
  for (const [d, sm] of sms) {
    assert.equal(sm.map.get("marker"), "1", `${d.id} applied the marker`);
    assert.equal(sm.map.has("lost"), false, `${d.id} never applied the refused proposal (${seedNote(SEED)})`);
  }
});

/** A TCP relay on `port` to `target`, stopped and started again on the same port by the test. */
class Relay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  constructor(
    readonly port: number,
    private readonly target: number,
  ) {}

  async start(): Promise<void> {
    const server = net.createServer((c) => {
      const u = net.connect(this.target, "127.0.0.1");
      for (const s of [c, u]) {
        this.sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          this.sockets.delete(s);
          c.destroy();
          u.destroy();
        });
      }
      c.pipe(u);
      u.pipe(c);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server !== null) await new Promise<void>((r) => server.close(() => r()));
  }
}

test("a follower whose link to the leader is backing off dials at once for a proposal", {
  timeout: 60_000,
}, async (t) => {
  const { leader, follower, sms, peers } = await fleet("b");
  // The follower restarts with its leader's address on a relay and a long reconnect backoff
  // (2-4 s after the first failure): without dialling at once, its proposal would wait that
  // long for the next attempt (or be refused while the leader is reachable again).
  const [relayPort] = await freePorts(1);
  const relay = new Relay(relayPort, Number(peers[leader.id].split(":")[1]));
  t.after(() => relay.stop());
  await relay.start();
  const id = follower.id;
  await follower.stop();
  const sm = new KvStateMachine();
  const again = new RaftDriver(
    testDriverOptions(
      root,
      SECRET,
      id,
      { ...peers, [leader.id]: `127.0.0.1:${relayPort}` },
      {
        stateMachine: sm,
        seed: SEED,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        transport: { backoffMinMs: 4000, backoffMaxMs: 8000 },
      },
    ),
  );
  drivers.push(again);
  await again.start();
  await waitFor(
    () => again.status().leader === leader.id && again.transport.stats().peers[leader.id]?.connected === true,
    "the restarted follower follows the leader over the relay",
    10_000,
  );
  await relay.stop();
  await waitFor(
    () => again.transport.stats().peers[leader.id]?.connected === false,
    "the follower's link to the leader backing off",
    5000,
  );
  await relay.start();
  const r = await timedPropose(again, kvCommand("backoff", "1"));
  assert.ok(
    r.index !== undefined,
    `committed: ${r.err?.code} ${r.err?.message} after ${r.ms.toFixed(0)} ms (${seedNote(SEED)})`,
  );
  assert.ok(r.ms < FAST_MS, `committed after ${r.ms.toFixed(0)} ms, want < ${FAST_MS} (${seedNote(SEED)})`);
  assert.equal(sm.map.get("backoff"), "1", "the follower applied its proposal");
  assert.equal(sms.get(leader)?.map.get("backoff"), "1", "so did the leader");
});
