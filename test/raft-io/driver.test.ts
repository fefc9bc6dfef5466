// The driver in one process: three real drivers over loopback TCP with file storage (fsync
// off to keep the test fast): election, proposals from leader and follower, ReadIndex reads,
// membership changes with a learner catching up by snapshot, leadership transfer, restart.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { encodeMessages, newMessage } from "../../config/raft/core/index.js";
import { DriverError, RaftDriver, type RaftDriverOptions } from "../../config/raft/driver.js";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { SEED } from "../support/prng.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "driver-test-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-driver-"));
const drivers = new Set<RaftDriver>();
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A port below the ephemeral range (support/ports.ts says why a listen(0) port is not safe to reuse). */
async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

interface Member {
  d: RaftDriver;
  sm: KvStateMachine;
}

function makeMember(
  id: string,
  peers: Record<string, string>,
  extra: Partial<RaftDriverOptions> = {},
): Member {
  const sm = (extra.stateMachine as KvStateMachine | undefined) ?? new KvStateMachine();
  const d = new RaftDriver(testDriverOptions(root, SECRET, id, peers, { ...extra, stateMachine: sm }));
  drivers.add(d);
  return { d, sm };
}

function leaderOf(ms: Member[]): Member | undefined {
  return ms.find((m) => m.d.status().role === "leader");
}

/** Records which command landed at which index, to compare members entry by entry. */
class RecordingKv extends KvStateMachine {
  readonly at = new Map<number, string>();
  override apply(entry: { index: number; term: number; data: Uint8Array }): unknown {
    this.at.set(entry.index, Buffer.from(entry.data).toString("utf8"));
    return super.apply(entry);
  }
}

describe("raft driver", () => {
  it("commits proposals made on followers (forwarded with unnumbered entries)", async () => {
    const ids = ["f1", "f2", "f3"];
    const peers: Record<string, string> = {};
    for (const id of ids) peers[id] = `127.0.0.1:${await freePort()}`;
    const sms = ids.map(() => new RecordingKv());
    const ms = ids.map((id, i) => makeMember(id, peers, { bootstrap: ids, stateMachine: sms[i] }));
    await Promise.all(ms.map((m) => m.d.start()));
    await waitFor(() => leaderOf(ms) !== undefined, "a leader", 5000);
    const leader = leaderOf(ms) as Member;
    const followers = ms.filter((m) => m !== leader);
    await waitFor(
      () => followers.every((f) => f.d.status().leader === leader.d.id),
      "followers know it",
      5000,
    );
    // A loaded machine can still move leadership mid-test, and a forwarded proposal can be lost
    // on its way (a follower's link to the leader not up yet: TIMEOUT, outcome unknown, seen once
    // in a suite run; now NOT_SENT at once). Such a proposal is retried (a bounded number of times): what is checked is
    // the index each one resolves with, so a copy that also committed changes nothing here.
    const proposeOn = async (f: Member, cmd: string): Promise<number> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await f.d.propose(Buffer.from(cmd));
        } catch (err) {
          const code = err instanceof DriverError ? err.code : "";
          if (attempt >= 5 || !["NO_LEADER", "LEADERSHIP_LOST", "TIMEOUT", "NOT_SENT"].includes(code))
            throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    // Both followers propose at once, several per turn, so one forwarded "prop" message carries
    // several unnumbered entries; each promise resolves with the index its command landed at.
    const proposals: { cmd: string; index: Promise<number> }[] = [];
    for (let i = 0; i < 8; i++) {
      for (const f of followers) {
        const cmd = JSON.stringify({ k: `${f.d.id}-${i}`, v: String(i) });
        proposals.push({ cmd, index: proposeOn(f, cmd) });
      }
    }
    const indexes = await Promise.all(proposals.map((p) => p.index));
    assert.equal(new Set(indexes).size, indexes.length, `distinct indexes ${indexes} (seed ${SEED})`);
    await waitFor(
      () => ms.every((m) => m.d.status().appliedIndex >= Math.max(...indexes)),
      "all applied",
      5000,
    );
    for (let i = 0; i < proposals.length; i++) {
      for (const m of ms) {
        assert.equal(
          (m.sm as RecordingKv).at.get(indexes[i]),
          proposals[i].cmd,
          `${m.d.id} applied the follower's command at ${indexes[i]}`,
        );
      }
    }
    assert.equal(leader.d.counters.undecodablePayloads, 0, "the leader decoded every forwarded proposal");

    // A follower's leadership transfer is forwarded to the leader; it resolves once it sees the target lead.
    const cur = leaderOf(ms) as Member;
    const [asker, target] = ms.filter((m) => m !== cur);
    await asker.d.transferLeadership(target.d.id);
    await waitFor(() => target.d.status().role === "leader", "the target leads", 5000);
    for (const m of ms) await m.d.stop();
  });

  it("elects, replicates, reads, changes membership, transfers leadership and recovers", async () => {
    const ids = ["n1", "n2", "n3"];
    const peers: Record<string, string> = {};
    for (const id of ids) peers[id] = `127.0.0.1:${await freePort()}`;
    const ms = ids.map((id) =>
      makeMember(id, peers, { bootstrap: ids, snapshotEvery: 20, compactMargin: 5 }),
    );
    await Promise.all(ms.map((m) => m.d.start()));
    await waitFor(() => leaderOf(ms) !== undefined, "a leader", 5000);
    const leader = leaderOf(ms) as Member;
    const follower = ms.find((m) => m !== leader) as Member;

    // Proposals from the leader and (forwarded) from a follower.
    const idx: number[] = [];
    for (let i = 0; i < 30; i++) idx.push(await leader.d.propose(kvCommand(`k${i}`, `v${i}`)));
    for (let i = 30; i < 40; i++) idx.push(await follower.d.propose(kvCommand(`k${i}`, `v${i}`)));
    assert.deepEqual(
      idx,
      [...idx].sort((a, b) => a - b),
      "indexes ascend",
    );
    assert.equal(follower.sm.map.get("k39"), "v39", "a follower's proposal resolves after it applied it");
    await assert.rejects(
      leader.d.propose("nope" as unknown as Uint8Array),
      (e: unknown) => e instanceof DriverError && e.code === "BAD_ARGUMENT",
    );

    // A linearizable read on a follower sees every write acknowledged before it started.
    const r = await follower.d.read();
    assert.ok(r >= idx[idx.length - 1], `read index ${r}`);
    assert.equal(follower.sm.map.size, 40);
    await waitFor(() => ms.every((m) => m.sm.map.size === 40), "all applied");
    assert.ok(leader.d.status().snapshotIndex >= 20, "snapshot taken every 20 entries");
    assert.ok(leader.d.storage.firstIndex() > 1, "log compacted");

    // A new learner joins, catches up (by snapshot: the log start is compacted), is promoted.
    const p4 = `127.0.0.1:${await freePort()}`;
    const n4 = makeMember("n4", { ...peers, n4: p4 });
    await n4.d.start();
    await leader.d.addLearner("n4", p4);
    await waitFor(() => n4.sm.map.size === 40, "learner caught up", 5000);
    assert.deepEqual(leader.d.status().learners, ["n4"]);
    await leader.d.promote("n4");
    assert.deepEqual(leader.d.status().voters, ["n1", "n2", "n3", "n4"]);
    assert.ok(
      ms.every((m) => m.d.peerAddresses().n4 === p4),
      "address replicated through the log",
    );
    await assert.rejects(
      follower.d.promote("n4"),
      (e: unknown) => e instanceof DriverError && e.code === "NOT_LEADER",
    );

    // Leadership transfer to n4, then the old leader is removed.
    await leader.d.transferLeadership(n4.d.id);
    await waitFor(() => n4.d.status().role === "leader", "n4 leads", 3000);
    await n4.d.propose(kvCommand("after-transfer", "1"));
    await n4.d.removeMember(leader.d.id);
    const st = n4.d.status();
    assert.ok(!st.voters.includes(leader.d.id));
    assert.ok(
      Object.values(st.peers).every((p) => p.match !== undefined),
      "leader reports match indexes",
    );

    // Restart a follower: it recovers from its own storage and catches up.
    const survivor = ms.find((m) => m !== leader && m.d.status().role !== "leader") as Member;
    await survivor.d.stop();
    drivers.delete(survivor.d);
    await n4.d.propose(kvCommand("while-down", "1"));
    const again = makeMember(survivor.d.id, peers);
    await again.d.start();
    await waitFor(() => again.sm.map.get("while-down") === "1", "restarted member caught up", 5000);
    assert.equal(again.sm.map.get("k0"), "v0");
  });

  it("counts and drops undecodable payloads and messages whose sender differs from the authenticated peer", async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const a = makeMember("solo", { solo: addr }, { bootstrap: ["solo"] });
    await a.d.start();
    await waitFor(() => a.d.status().role === "leader", "single-node leader");
    const term = a.d.status().term;
    // Mallory knows the secret, so the transport accepts it; the driver must still not trust
    // a message body that names another sender.
    const mallory = new TcpTransport({
      id: "mallory",
      secret: SECRET,
      peers: { solo: addr },
      onMessage: () => {},
    });
    await mallory.start();
    after(() => mallory.stop());
    mallory.send("solo", Buffer.from("RF this is not a message batch"));
    await waitFor(() => a.d.counters.undecodablePayloads === 1, "the undecodable payload counted");
    const forged = newMessage({
      type: "vote",
      from: "other",
      to: "solo",
      term: term + 5,
      index: 99,
      logTerm: 99,
    });
    mallory.send("solo", encodeMessages([forged]));
    await waitFor(() => a.d.counters.spoofedMessages === 1, "the forged sender counted");
    assert.equal(a.d.status().term, term, "a forged vote request must not move the term");
    assert.equal(a.d.status().role, "leader");
  });
  it("snapshots by bytes too: large entries do not pile up in the in-memory log", async () => {
    const ids = ["z1"];
    const peers: Record<string, string> = { z1: `127.0.0.1:${await freePort()}` };
    // 64 KiB budget: 16 KiB entries snapshot every 4, keeping at most 16 KiB (one entry) behind.
    const m = makeMember("z1", peers, {
      bootstrap: ids,
      snapshotEvery: 10_000,
      compactMargin: 1_000,
      snapshotBytes: 64 * 1024,
    });
    await m.d.start();
    await waitFor(() => m.d.status().role === "leader", "z1 leads", 5000);
    const big = "x".repeat(16 * 1024);
    for (let i = 0; i < 20; i++) await m.d.propose(kvCommand(`k${i}`, big));
    await waitFor(() => m.d.status().snapshotIndex >= 16, "a snapshot by bytes", 5000);
    const held = m.d.storage.lastIndex() - m.d.storage.firstIndex() + 1;
    assert.ok(held <= 8, `the log still holds ${held} entries (first ${m.d.storage.firstIndex()})`);
    assert.equal(m.sm.map.get("k19"), big);
  });
});
