// A peer removed from the transport (its member left the Raft configuration) must not stay in
// the set of cut peers: before, removePeer closed the link but left the id in `cuts`, so the set
// grew with every cut member that left, and an id added back later (a new learner under the same
// name) was silently cut, every message to and from it dropped as "cut".
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { SEED, seededRandom } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "removed-cut secret";
const rand = seededRandom(SEED);
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops.reverse()) await s();
});

function transport(id: string, got: string[] = []): TcpTransport {
  const t = new TcpTransport({
    id,
    secret: SECRET,
    rand,
    backoffMinMs: 10,
    backoffMaxMs: 100,
    onMessage: (_from, payload) => got.push(Buffer.from(payload).toString()),
  });
  stops.push(() => t.stop());
  return t;
}

test(`a removed peer leaves the cut set, and is not cut when added back (seed=${SEED})`, async () => {
  const got: string[] = [];
  const b = transport("b", got);
  const bAddr = await b.start();
  const a = transport("a");
  await a.start();
  a.setPeer("b", bAddr);
  a.cut("b");
  assert.deepEqual(a.cutPeers(), ["b"]);
  a.removePeer("b");
  assert.deepEqual(a.cutPeers(), [], "the removed peer stayed in the cut set");
  assert.equal(a.linkState("b"), "unknown");
  // Added back (same id, its address replicated again): traffic flows.
  a.setPeer("b", bAddr);
  await waitFor(
    () => {
      a.send("b", Buffer.from("back"));
      return got.includes("back");
    },
    "delivery to the re-added peer",
    10_000,
    50,
  );
  assert.equal(a.stats().dropped.cut, 0, "messages to the re-added peer were dropped as cut");
});
