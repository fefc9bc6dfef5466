// The transport's side of a dead peer, with real transports over loopback TCP. Before, a link
// whose peer was gone kept every payload sent to it (up to 4096, or 64 MiB) across its
// reconnects and replayed them all once the peer was back. Now a lost connection and each
// failed dial emit "unreachable" (the Raft driver then has the leader probe the peer), what was
// queued is dropped, and until a dial succeeds the link holds only the newest 8 payloads: the
// returning peer gets those 8 and nothing older.
import assert from "node:assert/strict";
import { after, it } from "node:test";
import { TcpTransport, type TcpTransportOptions } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transport-unreachable-secret-0123";
const SENT_WHILE_DOWN = 100;
const HELD = 8;
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops.reverse()) await s();
});

it("a link to a dead peer reports it and holds only the newest few payloads for its return", {
  timeout: 60_000,
}, async () => {
  const note = seedNote(SEED);
  const rand = seededRandom(SEED);
  const make = async (id: string, extra: Partial<TcpTransportOptions>) => {
    const got: string[] = [];
    const t = new TcpTransport({
      id,
      secret: SECRET,
      rand,
      backoffMinMs: 10,
      backoffMaxMs: 100,
      onMessage: (_from, p) => got.push(p.toString("utf8")),
      ...extra,
    });
    await t.start();
    stops.push(() => t.stop());
    return { t, got };
  };
  const [port] = await freePorts(1);
  const bAddr = `127.0.0.1:${port}`;
  const b = await make("b", { port });
  const a = await make("a", { peers: { b: bAddr } });
  const unreachable: string[] = [];
  a.t.on("unreachable", (peer: string) => unreachable.push(peer));
  a.t.send("b", Buffer.from("first"));
  await waitFor(() => b.got.length === 1, `the first payload arrived (${note})`, 20_000);
  assert.deepEqual(unreachable, [], `nothing reported while b is up (${note})`);

  await b.t.stop();
  await waitFor(
    () => unreachable.length >= 2 && !a.t.stats().peers.b.connected,
    `a reported the lost connection and a failed dial (${note})`,
    20_000,
  );
  assert.ok(
    unreachable.every((p) => p === "b"),
    `reported ${JSON.stringify(unreachable)} (${note})`,
  );
  for (let i = 0; i < SENT_WHILE_DOWN; i++) a.t.send("b", Buffer.from(`p${i}`));
  const held = a.t.stats();
  assert.ok(
    held.peers.b.queued <= HELD,
    `a holds ${held.peers.b.queued} payloads for the dead b, over ${HELD} (${note})`,
  );
  assert.ok(held.peers.b.queuedBytes <= HELD * 8, `a holds ${held.peers.b.queuedBytes} bytes (${note})`);
  assert.ok(
    held.dropped.unreachable >= SENT_WHILE_DOWN - HELD,
    `dropped counted: ${held.dropped.unreachable}`,
  );

  // b is back: it gets the newest payloads, then what is sent next, and nothing older.
  const b2 = await make("b", { port });
  await waitFor(() => b2.got.length >= HELD, `the held payloads arrived (${note})`, 20_000);
  a.t.send("b", Buffer.from("last"));
  await waitFor(() => b2.got.includes("last"), `the next payload arrived (${note})`, 20_000);
  const newest = Array.from({ length: HELD }, (_, k) => `p${SENT_WHILE_DOWN - HELD + k}`);
  assert.deepEqual(b2.got, [...newest, "last"], `what the returning b received (${note})`);
});
