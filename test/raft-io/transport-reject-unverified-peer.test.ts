// The per-peer rejection counters (a2903f2) name a peer of the configuration only when the
// rejected connection proved that name. A hello's `from` is a claim: anyone who can reach the
// port can claim a configured peer's id and fail the proof. Before, such a connection's rejection
// (bad_mac of the client proof) was counted under the claimed peer, so a stranger without the
// secret could raise shardgate_raft_transport_peer_rejected_total{peer="c"} at will and point
// the alert at a healthy peer. Now a rejection before the handshake completes counts under
// "unknown" (the log line still says which name was claimed); one on an authenticated connection
// (a frame with a bad MAC) still counts under its peer. Real transport over loopback.
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, it } from "node:test";
import { frames, newNonce, parseAddress, TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transport-reject-unverified-secret-0123";
const note = seedNote(SEED);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Claims to be `from` and answers the challenge with a proof made without the secret. */
async function strangerClaiming(addr: string, from: string, to: string, random: () => number): Promise<void> {
  const { host, port } = parseAddress(addr);
  const sock = net.connect({ host, port });
  cleanups.push(() => sock.destroy());
  sock.on("error", () => {});
  const closed = new Promise<void>((r) => sock.on("close", () => r()));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write(frames.encodeHello(from, to, newNonce()));
  await new Promise<Buffer>((resolve) => sock.once("data", resolve));
  const guess = Buffer.alloc(frames.MAC_BYTES);
  for (let i = 0; i < guess.length; i++) guess[i] = Math.floor(random() * 256);
  sock.write(frames.encodeAuth(guess));
  await closed;
}

it("a rejected handshake claiming a configured peer's name counts under unknown, not that peer", async () => {
  const random = seededRandom(SEED);
  const [pb, pc] = await freePorts(2);
  const b = new TcpTransport({
    id: "b",
    secret: SECRET,
    port: pb,
    host: "127.0.0.1",
    peers: { c: `127.0.0.1:${pc}` },
    rand: random,
    onMessage: () => {},
  });
  await b.start();
  cleanups.push(() => b.stop());
  for (let i = 0; i < 3; i++) await strangerClaiming(`127.0.0.1:${pb}`, "c", "b", random);
  await waitFor(() => b.stats().rejected.bad_mac >= 3, `three rejected handshakes (${note})`, 30_000);
  const byPeer = b.stats().byPeer;
  assert.equal(byPeer.get("c")?.rejected.bad_mac, 0, `a stranger's failed proofs counted under c (${note})`);
  assert.equal(byPeer.get("unknown")?.rejected.bad_mac, 3, `under unknown (${note})`);
});
