// The Raft transport's sender side against the frame limit, with two real transports over real
// TCP on loopback (a 64 KiB frame limit on both). Before, a payload over what a frame may carry
// was sent anyway: the receiver refused the frame as oversized and dropped the connection, and
// everything queued behind it with it. Now send() refuses it (false, nothing written), counts it
// as rejected oversized_send and emits "oversized"; the connection stays up, a payload of exactly
// the largest size still arrives whole, and so does the next small one.

import assert from "node:assert/strict";
import { after, it } from "node:test";
import { type OversizedEvent, TcpTransport } from "../../config/raft/transport/index.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const FRAME = 64 * 1024;
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops.reverse()) await s();
});

it("a payload over the frame limit is refused by its sender, counted, and the link stays up", {
  timeout: 60_000,
}, async () => {
  const note = seedNote(SEED);
  const rand = seededRandom(SEED);
  const got: Buffer[] = [];
  const make = (id: string, onMessage: (from: string, p: Buffer) => void): TcpTransport => {
    const t = new TcpTransport({
      id,
      secret: "raft-send-test-secret-0123456789",
      host: "127.0.0.1",
      port: 0,
      rand,
      maxFrameBytes: FRAME,
      backoffMinMs: 10,
      backoffMaxMs: 100,
      onMessage,
    });
    stops.push(() => t.stop());
    return t;
  };
  const b = make("b", (_from, p) => got.push(Buffer.from(p)));
  const bAddr = await b.start();
  const a = make("a", () => {});
  await a.start();
  a.setPeer("b", bAddr);
  const events: OversizedEvent[] = [];
  a.on("oversized", (e: OversizedEvent) => events.push(e));

  assert.equal(a.send("b", Buffer.from("first")), true);
  await waitFor(() => got.length === 1, `the first payload arrived (${note})`, 20_000);

  const limit = a.maxPayloadBytes;
  assert.ok(limit > FRAME - 128 && limit < FRAME, `payload limit ${limit} just under the frame (${note})`);
  const over = Buffer.alloc(limit + 1, 0x6f);
  assert.equal(
    a.send("b", over),
    false,
    `a payload of ${over.length} bytes was accepted for sending (${note})`,
  );
  assert.equal(a.stats().rejected.oversized_send, 1, `the refusal counted (${note})`);
  assert.deepEqual(events, [{ peer: "b", bytes: limit + 1, limit }]);

  // The largest payload a frame carries still goes out, whole, on the same connection.
  const largest = Buffer.alloc(limit, 0x6c);
  assert.equal(a.send("b", largest), true);
  assert.equal(a.send("b", Buffer.from("after")), true);
  await waitFor(() => got.length === 3, `the largest and the next payload arrived (${note})`, 20_000);
  assert.equal(got[1].length, limit, `the largest payload arrived whole (${note})`);
  assert.ok(got[1].equals(largest));
  assert.equal(got[2].toString(), "after");
  assert.equal(b.stats().rejected.oversized, 0, `the receiver refused nothing (${note})`);
  assert.equal(a.stats().connects, 1, `one connection throughout (${note})`);
});
