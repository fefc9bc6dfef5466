// Node ids in the admin API's membership endpoints (`ctl leader transfer`, `ctl peers add-learner
// | promote | remove`), tried from the outside on a real shardgate started as `--node-id sg:a` (a
// one-voter cluster, so the leader). A node id is letters, digits, "_", ".", ":", "-", up to 128
// characters, for `cluster.id`, `cluster.peers`, `--node-id` and SHARDGATE_NODE_ID alike; the
// admin took only up to 63 and no ":", so a fleet named `sg:a`, `sg:b` (or with long ids, as a
// generated host name gives) could not move its leader or remove a dead member through the
// admin: every such call was 400 bad_request quoting a regular expression. Now the admin takes
// the ids the fleet is started with, and refuses the others saying what a node id is.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { otherPeers, postMembership } from "../support/membership-admin.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const seed = testSeed(20_261_207);
const note = seedNote(seed);
const TOKEN = "membership-node-ids-token";
const ID_TAIL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";
let ups: EchoUpstream[] = [];
let stand: Server | undefined;
const sockets = new Set<Socket>();

after(async () => {
  await stopAll();
  for (const s of sockets) s.destroy();
  if (stand !== undefined) await new Promise((r) => stand?.close(r));
  await closeAll(ups);
});

/** A node id of `length` characters drawn from what a node id may hold. */
function drawnId(random: () => number, length: number): string {
  let id = "n";
  while (id.length < length) id += ID_TAIL[Math.floor(random() * ID_TAIL.length)];
  return id;
}

async function learners(sg: RunningShardgate): Promise<string[]> {
  return (await otherPeers(sg)).map((p) => p.id);
}

test("the membership endpoints take every node id the fleet can be started with", async () => {
  ups = await startUpstreams(1, "ni");
  // A stand-in for the learners' Raft port: it accepts and holds the leader's dials.
  stand = createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => stand?.listen(0, "127.0.0.1", r));
  const address = `127.0.0.1:${(stand.address() as { port: number }).port}`;
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
    { args: ["--node-id", "sg:a"] },
  );
  const output = () => `${sg.proc.output()}\n${note}`;
  const ctl = (args: string[]) => runCtl(["--admin", sg.adminUrl, ...args], { SHARDGATE_ADMIN_TOKEN: TOKEN });

  const moved = await ctl(["leader", "transfer", "sg:a"]);
  assert.equal(moved.code, 0, `ctl leader transfer sg:a\n${moved.stdout}\n${moved.stderr}\n${output()}`);

  const random = seededRandom(seed);
  const long = drawnId(random, 64 + Math.floor(random() * 65));
  for (const id of ["sg:b", long]) {
    const added = await ctl(["peers", "add-learner", id, address]);
    assert.equal(added.code, 0, `ctl peers add-learner ${id}\n${added.stdout}\n${added.stderr}\n${output()}`);
    assert.deepEqual(await learners(sg), [id], `${id} is a learner\n${output()}`);
    const removed = await ctl(["peers", "remove", id]);
    assert.equal(
      removed.code,
      0,
      `ctl peers remove ${id}\n${removed.stdout}\n${removed.stderr}\n${output()}`,
    );
    assert.deepEqual(await learners(sg), [], `${id} is gone\n${output()}`);
  }

  // What no node can be called is still refused, saying what a node id is.
  for (const id of [drawnId(random, 129), "sg b", ":a", ""]) {
    const r = await postMembership(sg, TOKEN, "add-learner", { id, address });
    assert.equal(r.status, 400, `add-learner ${JSON.stringify(id)}: ${r.text}\n${output()}`);
    assert.match(r.text, /letters, digits/, `the refusal says what a node id is: ${r.text}\n${note}`);
  }
  assert.deepEqual(await learners(sg), [], `nothing committed for a refused id\n${output()}`);
});
