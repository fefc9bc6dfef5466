// The transport's half of the cluster identity (config/raft/transport/inbound.ts): over real
// loopback TCP, a server holding a cluster id refuses a hello naming another one before any
// payload is delivered, and tells the dialer why (both count cluster_mismatch); it serves a
// hello naming its own id, and a version-1 hello naming none (the previous version, or a node
// that holds no id yet, such as an empty joiner); a server holding no id serves any.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transport-cluster-id-secret-0123456789";
const X = "00112233445566aa";
const Y = "99887766554433bb";
const started: TcpTransport[] = [];
after(async () => {
  for (const t of started) await t.stop();
});

const rand = seededRandom(SEED);

async function server(id: string, clusterId?: string): Promise<{ t: TcpTransport; got: string[] }> {
  const got: string[] = [];
  const t = new TcpTransport({
    id,
    secret: SECRET,
    clusterId,
    rand,
    onMessage: (from, p) => got.push(`${from}:${p.toString("utf8")}`),
  });
  started.push(t);
  await t.start();
  return { t, got };
}

function client(id: string, to: string, address: string, clusterId?: string): TcpTransport {
  const t = new TcpTransport({
    id,
    secret: SECRET,
    inbound: false,
    clusterId,
    rand,
    peers: { [to]: address },
    onMessage: () => {},
  });
  started.push(t);
  return t;
}

test("a hello naming another cluster is refused before any payload; its own, none, or a server without one are served", async () => {
  const s = await server("s", X);
  const other = client("c1", "s", s.t.address(), Y);
  other.send("s", Buffer.from("from-other-cluster"));
  await waitFor(
    () => s.t.stats().rejected.cluster_mismatch > 0 && other.stats().rejected.cluster_mismatch > 0,
    `the server refuses and the dialer hears why (${seedNote(SEED)})`,
    10_000,
  );
  const same = client("c2", "s", s.t.address(), X);
  same.send("s", Buffer.from("same-cluster"));
  const legacy = client("c3", "s", s.t.address());
  legacy.send("s", Buffer.from("no-id"));
  await waitFor(() => s.got.length === 2, `both served (${seedNote(SEED)})`, 10_000);
  assert.deepEqual(s.got.sort(), ["c2:same-cluster", "c3:no-id"]);
  assert.equal(s.t.stats().rejected.bad_mac, 0, "the id is bound into both proofs alike");

  // A node that holds no id yet serves a dialer that has one.
  const fresh = await server("f");
  const dialer = client("c4", "f", fresh.t.address(), Y);
  dialer.send("f", Buffer.from("to-fresh"));
  await waitFor(() => fresh.got.length === 1, `a server without an id serves (${seedNote(SEED)})`, 10_000);
  assert.deepEqual(fresh.got, ["c4:to-fresh"]);

  // Adopting an id later: the server now refuses what it served before.
  fresh.t.setClusterId(X);
  // The open connection is dropped; the dialer redials when it has something to send (a frame
  // written before it saw the close is lost with the socket), so keep sending, bounded.
  for (let k = 0; k < 200 && fresh.t.stats().rejected.cluster_mismatch === 0; k++) {
    dialer.send("f", Buffer.from(`after-adoption-${k}`));
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(fresh.t.stats().rejected.cluster_mismatch > 0, `refused once adopted (${seedNote(SEED)})`);
  assert.deepEqual(fresh.got, ["c4:to-fresh"], "nothing delivered from the other cluster after adoption");
  assert.deepEqual(s.got.sort(), ["c2:same-cluster", "c3:no-id"], "nothing of the other cluster delivered");
});
