// A burst of admin clients past admin.maxConnections, each sending its whole request as soon as
// it connects (as fetch, ctl and a script's parallel calls do), tried from the outside on a real
// shardgate. At the cap the admin port reclaims the connection idle the longest with no request
// in flight, a fresh one too, so tricklers cannot starve /readyz. But a burst is accepted in one
// go before any of its requests is read, so the connections it reclaimed were fresh ones whose
// complete requests sat unread in the kernel: each was closed with a FIN and no answer. Seen with
// 200 parallel drains and reloads over a demo fleet (fetch): 24 hung until the client's own
// timeout; with raw clients, 6 of 70 read a FIN without an answer. Now a connection that has
// sent nothing yet is reclaimed only once it has been open a moment (FRESH_GRACE_MS): every
// client of a burst gets an answer, its own or a 503 too_many_connections. Seeded burst sizes.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { startCappedAdmin, statusLineOf } from "../support/admin-cap.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const seed = testSeed(20_261_212);
const note = seedNote(seed);
const CAP = 16;
/** How long a client of the burst waits for its status line. */
const ASK_MS = 10_000;
const ROUNDS = 4;
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

test("every client of a burst past admin.maxConnections gets an answer", async () => {
  ups = await startUpstreams(1, "cb");
  const sg = await startCappedAdmin(CAP, ups[0].port);
  const port = Number(new URL(sg.adminUrl).port);
  const random = seededRandom(seed);
  const request = "GET /admin/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (let round = 0; round < ROUNDS; round++) {
    const burst = CAP + 2 + Math.floor(random() * CAP * 2);
    const outcomes = await Promise.all(
      Array.from({ length: burst }, () => statusLineOf(port, request, ASK_MS)),
    );
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    const said = `round ${round}, ${burst} clients at a cap of ${CAP}: ${JSON.stringify(counts)}\n${note}`;
    const answered = outcomes.filter((o) => /^HTTP\/1\.1 (200|503) /.test(o)).length;
    assert.equal(answered, burst, `each is answered 200 or 503\n${said}`);
    assert.ok((counts["HTTP/1.1 200 OK"] ?? 0) >= CAP, `at least the cap is served\n${said}`);
  }
});
