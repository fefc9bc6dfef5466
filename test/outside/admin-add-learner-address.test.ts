// A learner's address given to the admin API (`POST /admin/cluster/add-learner`, `ctl peers
// add-learner`), tried from the outside on a real shardgate (a one-voter cluster, so the leader).
// The admin checked it with a loose pattern and the transport's split at the last colon, so
// addresses the config file refuses for `cluster.peers` were committed fleet-wide with 200: an
// unclosed bracket (`[::1`, dialled as host `[::` port 1), an IPv6 address without brackets
// (`::1:7401`, which the config calls ambiguous and the transport dialled as ::1 port 7401),
// brackets around a name (`[x]:7401`), a name no DNS can hold (`a..b`, `-a`). Each became a
// learner no one can reach, listed with its lag for good. Now the address is read as the config
// reads one: those are 400 bad_request saying what an address is, nothing is committed, and an
// accepted address is stored as the config writes it (a name lower-cased), so the same peer
// given in the file and through the admin is one address.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { otherPeers, postMembership } from "../support/membership-admin.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const seed = testSeed(20_261_206);
const note = seedNote(seed);
const TOKEN = "add-learner-address-token";
let ups: EchoUpstream[] = [];

/** Addresses `cluster.peers` refuses in the config file; the admin must refuse them too. */
const REFUSED = [
  "[::1",
  "::1:7401",
  "[x]:7401",
  "[::1]]:7401",
  "a..b:7401",
  "-a:7401",
  "127.0.0.1:0",
  "h:70000",
];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

function addLearner(sg: RunningShardgate, id: string, address: string) {
  return postMembership(sg, TOKEN, "add-learner", { id, address });
}

test("add-learner refuses the addresses the config refuses and stores an accepted one as the config writes it", async () => {
  ups = await startUpstreams(1, "al");
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
  );
  const output = () => `${sg.proc.output()}\n${note}`;
  // The order the shapes are tried in is drawn, so one shape's leftovers cannot hide behind another's.
  const random = seededRandom(seed);
  const order = REFUSED.map((a) => ({ a, k: random() }))
    .sort((x, y) => x.k - y.k)
    .map((x) => x.a);
  for (const [i, address] of order.entries()) {
    const r = await addLearner(sg, `bad-${i}`, address);
    assert.equal(r.status, 400, `add-learner ${JSON.stringify(address)}: ${r.text}\n${output()}`);
    const body = r.body as { error: string; message: string };
    assert.equal(body.error, "bad_request", `${JSON.stringify(address)}: ${r.text}\n${note}`);
    assert.match(body.message, /"address"/, `the message names the field: ${r.text}\n${note}`);
    assert.match(body.message, /host:port/, `the message says what an address is: ${r.text}\n${note}`);
    assert.deepEqual(
      await otherPeers(sg),
      [],
      `nothing committed for ${JSON.stringify(address)}\n${output()}`,
    );
  }

  // Through ctl: exit 1 with the API's code, not a learner nobody can reach.
  const ctl = await runCtl(["--admin", sg.adminUrl, "peers", "add-learner", "bad-ctl", "[::1"], {
    SHARDGATE_ADMIN_TOKEN: TOKEN,
  });
  assert.equal(ctl.code, 1, `ctl exit code\n${ctl.stdout}\n${ctl.stderr}\n${note}`);
  assert.match(ctl.stderr, /bad_request/, `ctl says why\n${ctl.stderr}\n${note}`);
  assert.deepEqual(await otherPeers(sg), [], `nothing committed through ctl\n${output()}`);

  // A name is stored lower-cased, as `cluster.peers` stores it; an IPv6 address keeps its brackets.
  const good = await addLearner(sg, "good-name", "LOCALHOST:7401");
  assert.equal(good.status, 200, `${good.text}\n${output()}`);
  const v6 = await addLearner(sg, "good-v6", "[::1]:7402");
  assert.equal(v6.status, 200, `${v6.text}\n${output()}`);
  const listed = Object.fromEntries((await otherPeers(sg)).map((p) => [p.id, p.address]));
  assert.deepEqual(listed, { "good-name": "localhost:7401", "good-v6": "[::1]:7402" }, `${output()}`);
  assert.ok(sg.proc.exit === undefined, `the process is still running\n${output()}`);
});
