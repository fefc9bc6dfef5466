// A payload sent with onLost (the driver's snapshots) is reported when the transport drops it
// instead of sending it: displaced by newer payloads while its peer is down, dropped with the
// queue when the link is closed, and never when it is delivered. Before, the transport dropped
// such a payload silently (send had no onLost) and the Raft leader learned nothing: it waited
// the snapshot retry (2 election timeouts; test/raft-io/snapshot-lost.test.ts). Real transports
// over loopback; the dead peer is a port nothing listens on.
import assert from "node:assert/strict";
import { after, it } from "node:test";
import { TcpTransport, type TcpTransportOptions } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transport-lost-test-secret-0123";
const note = seedNote(SEED);
const rand = seededRandom(SEED);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function transport(
  id: string,
  got: Buffer[] | null,
  extra: Partial<TcpTransportOptions> = {},
): Promise<TcpTransport> {
  const t = new TcpTransport({
    id,
    secret: SECRET,
    rand,
    onMessage: (_from, p) => got?.push(Buffer.from(p)),
    backoffMinMs: 10,
    backoffMaxMs: 50,
    ...extra,
  });
  await t.start();
  cleanups.push(() => t.stop());
  return t;
}

it("a watched payload is reported lost when displaced while its peer is down, and only then", async () => {
  const [deadPort] = await freePorts(1);
  const a = await transport("a", null, { peers: { c: `127.0.0.1:${deadPort}` } });
  a.send("c", Buffer.from("first"));
  await waitFor(() => a.linkState("c") === "reconnecting", `the dial to the dead c failed (${note})`, 30_000);
  let lost = 0;
  assert.equal(
    a.send("c", Buffer.from("snapshot"), undefined, () => lost++),
    true,
  );
  // The link holds the newest 8 while c is down: 7 more keep it, the 8th displaces it.
  for (let k = 0; k < 7; k++) a.send("c", Buffer.from(`hb${k}`));
  assert.equal(lost, 0, `reported lost while still held (${note})`);
  a.send("c", Buffer.from("hb7"));
  assert.equal(lost, 1, `displaced, and reported once (${note})`);
  for (let k = 0; k < 20; k++) a.send("c", Buffer.from(`more${k}`));
  assert.equal(lost, 1, `reported more than once (${note})`);
});

it("a watched payload is reported lost when the link is closed with it queued, not when delivered", async () => {
  const got: Buffer[] = [];
  const b = await transport("b", got);
  const a = await transport("a", null, { peers: { b: b.address() } });
  let delivered = 0;
  a.send("b", Buffer.from("delivered"), undefined, () => delivered++);
  await waitFor(() => got.some((p) => p.toString() === "delivered"), `b got the payload (${note})`, 30_000);
  // A later write in the same connection proves the first one's write completed long ago.
  a.send("b", Buffer.from("after"));
  await waitFor(() => got.some((p) => p.toString() === "after"), `b got the next payload (${note})`, 30_000);
  assert.equal(delivered, 0, `a delivered payload was reported lost (${note})`);

  // Queued and not yet flushed (the flush waits for the next tick): removing the peer closes
  // the link and drops its queue.
  let lost = 0;
  a.send("b", Buffer.from("queued"), undefined, () => lost++);
  a.removePeer("b");
  assert.equal(lost, 1, `dropped with the closed link's queue, reported once (${note})`);
});
