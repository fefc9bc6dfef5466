// The driver's Ready loop against a real FileStorage: it records when sync() starts and ends
// and when each message leaves, so the persist-before-send rules of core/ready.ts are checked
// on the code that runs in production (the simulation re-implements the loop, so it cannot):
// votes and responses leave only after the sync; a leader's appends may leave before it.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import {
  BOOTSTRAP_HARD_STATE,
  bootstrapSnapshot,
  decodeMessages,
  newMessage,
  RaftNode,
} from "../../config/raft/core/index.js";
import { ReadyLoop } from "../../config/raft/driver/ready-loop.js";
import { FileStorage } from "../../config/raft/storage/index.js";
import type { TcpTransport } from "../../config/raft/transport/index.js";
import { waitFor } from "../support/wait.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-ready-loop-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;

/** One node of {a, b, c} on real storage, driven by a ReadyLoop whose I/O is logged in order. */
async function harness(id: string) {
  const storage = await FileStorage.open(path.join(root, `d${dirs++}`), { fsync: false });
  await storage.applySnapshot(bootstrapSnapshot({ voters: ["a", "b", "c"], learners: [] }));
  storage.setHardState(BOOTSTRAP_HARD_STATE);
  await storage.sync();
  const log: string[] = [];
  const realSync = storage.sync.bind(storage);
  storage.sync = async () => {
    log.push("sync-start");
    await realSync();
    log.push("sync-end");
  };
  const node = new RaftNode({ id, storage, seed: 1, preVote: false, checkQuorum: false, applied: 1 });
  const realAdvance = node.advance.bind(node);
  let advances = 0;
  node.advance = (rd) => {
    realAdvance(rd);
    advances++;
  };
  // Records what leaves; the wire itself is covered by transport.test.ts.
  const transport = {
    send(to: string, payload: Uint8Array): boolean {
      for (const m of decodeMessages(payload)) log.push(`send ${m.type}->${to}`);
      return true;
    },
  } as unknown as TcpTransport;
  const errors: unknown[] = [];
  const loop = new ReadyLoop(node, storage, transport, {
    applyReady: () => {},
    restoreSnapshot: () => {},
    afterAdvance: async () => {},
    fatal: (err) => errors.push(err),
  });
  /** Runs one input through the loop and returns the I/O it caused, in order. */
  const run = async (input: () => void): Promise<string[]> => {
    log.length = 0;
    const before = advances;
    input();
    loop.kick();
    await waitFor(() => advances > before && !node.hasReady(), "the Ready loop to drain");
    assert.deepEqual(errors, []);
    return [...log];
  };
  after(async () => {
    await loop.stop();
    await storage.close();
  });
  return { node, storage, run };
}

const at = (io: string[], what: string) => {
  const k = io.indexOf(what);
  assert.ok(k >= 0, `expected ${what} in ${io.join(", ")}`);
  return k;
};

describe("ready loop ordering", () => {
  it("sends a candidate's votes only after its new term and vote are synced", async () => {
    const { node, storage, run } = await harness("a");
    const io = await run(() => node.campaign());
    assert.equal(storage.hardState().vote, "a");
    for (const peer of ["b", "c"])
      assert.ok(at(io, `send vote->${peer}`) > at(io, "sync-end"), io.join(", "));
  });

  it("sends a leader's appends before its own sync, and a follower's response after its sync", async () => {
    const a = await harness("a");
    await a.run(() => a.node.campaign());
    const term = a.node.status().term;
    // b's grant makes a leader: the Ready holds a's no-op entry and the appends carrying it.
    const io = await a.run(() =>
      a.node.step(newMessage({ type: "voteResp", from: "b", to: "a", term, reject: false })),
    );
    assert.equal(a.node.status().role, "leader");
    assert.ok(at(io, "send app->b") < at(io, "sync-start"), `early append: ${io.join(", ")}`);
    assert.equal(a.node.status().commit, 1, "a leader alone must not commit its unacknowledged no-op");

    // b learns the term from a heartbeat first, so the append below changes neither term nor vote.
    const b = await harness("b");
    await b.run(() => b.node.step(newMessage({ type: "heartbeat", from: "a", to: "b", term, commit: 1 })));
    const entry = { index: 2, term, type: "normal" as const, data: new Uint8Array(0) };
    const io2 = await b.run(() =>
      b.node.step(
        newMessage({
          type: "app",
          from: "a",
          to: "b",
          term,
          index: 1,
          logTerm: 1,
          entries: [entry],
          commit: 1,
        }),
      ),
    );
    assert.equal(b.storage.lastIndex(), 2);
    assert.ok(at(io2, "send appResp->a") > at(io2, "sync-end"), `response after sync: ${io2.join(", ")}`);
  });
});
