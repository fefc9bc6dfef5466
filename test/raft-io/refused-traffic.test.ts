// Refused cluster traffic at a real driver over loopback TCP: a peer that knows the secret but
// is no member (a removed node still running) campaigning at a later term, also as a forced
// transfer; undecodable payloads; a wrong secret; malformed and oversized frames on raw
// sockets. Each is counted by reason, leaves the leader and its term as they were, and is
// logged once per (peer, reason) per interval with the count of the rest, never once per
// message (a removed member campaigning every election timeout used to be silent, and a
// forced vote from it deposed the leader).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, it } from "node:test";
import { encodeMessages, newMessage } from "../../config/raft/core/index.js";
import { RefusalLog } from "../../config/raft/driver/refusal-log.js";
import { RaftDriver } from "../../config/raft/driver.js";
import { frames, newNonce, TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { waitFor } from "../support/wait.js";

const SECRET = "refused-traffic-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-refused-"));
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops.reverse()) await s();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A port below the ephemeral range (support/ports.ts says why a listen(0) port is not safe to reuse). */
async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** Sends `bytes` on a raw connection to `port` and resolves when the server closes it. */
function rawSend(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(bytes));
    // Bounded: a server that kept the connection open past this is reported by the counters.
    const t = setTimeout(() => s.destroy(), 10_000);
    s.on("error", () => {});
    s.resume(); // read (and discard) what the server answers, so its close is seen
    s.on("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

it("refused traffic is counted by reason, changes nothing, and is logged once per peer and reason", async () => {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const lines: string[] = [];
  const d = new RaftDriver(
    testDriverOptions(
      root,
      SECRET,
      "solo",
      { solo: addr },
      {
        bootstrap: ["solo"],
        refusalLogMs: 600_000,
        onWarning: (m) => lines.push(m),
      },
    ),
  );
  stops.push(() => d.stop());
  await d.start();
  await waitFor(() => d.status().role === "leader", "single-node leader", 10_000);
  const term = d.status().term;
  const linesFor = (code: string, peer: string): string[] =>
    lines.filter((l) => l.includes(`(code ${code}) from ${peer}`));

  // A member of nothing that knows the secret: 40 vote requests at a later term, half forced.
  const removed = new TcpTransport({
    id: "removed",
    secret: SECRET,
    peers: { solo: addr },
    onMessage: () => {},
  });
  await removed.start();
  stops.push(() => removed.stop());
  const N = 40;
  for (let i = 0; i < N; i++) {
    const vote = newMessage({
      type: i % 2 === 0 ? "vote" : "preVote",
      from: "removed",
      to: "solo",
      term: term + 1 + i,
      index: 1000,
      logTerm: term + 1 + i,
      force: i % 4 === 0,
    });
    removed.send("solo", encodeMessages([vote]));
  }
  for (let i = 0; i < 10; i++) removed.send("solo", Buffer.from(`not a batch ${i}`));
  await waitFor(
    () => d.counters.refused.vote_from_non_voter === N && d.counters.undecodablePayloads === 10,
    `every vote refused (${d.counters.refused.vote_from_non_voter}/${N}) and payload counted`,
    20_000,
  );
  assert.equal(d.status().term, term, "a non-member's vote request moved the term");
  assert.equal(d.status().role, "leader");
  assert.equal(linesFor("vote_from_non_voter", "removed").length, 1, lines.join("\n"));
  assert.equal(linesFor("undecodable", "removed").length, 1, lines.join("\n"));

  // Raw handshakes: a HELLO for another node, and an AUTH proof made without the secret.
  for (let i = 0; i < 10; i++) await rawSend(port, frames.encodeHello("eve", "someone-else", newNonce()));
  for (let i = 0; i < 10; i++) {
    const hello = frames.encodeHello("eve", "solo", newNonce());
    await rawSend(port, Buffer.concat([hello, frames.encodeAuth(Buffer.alloc(32, i))]));
  }
  await waitFor(
    () => d.transport.stats().rejected.wrong_receiver >= 10 && d.transport.stats().rejected.bad_mac >= 10,
    "forged handshakes refused",
    20_000,
  );
  assert.equal(linesFor("wrong_receiver", "127.0.0.1").length, 1, lines.join("\n"));
  assert.equal(linesFor("bad_mac", "eve").length, 1, lines.join("\n"));

  // Raw sockets: truncated hello frames and an oversized length, 10 connections each.
  const short = Buffer.from([0, 0, 0, 3, 1, 1, 0]); // a HELLO of 2 body bytes: malformed
  const huge = Buffer.from([0x7f, 0xff, 0xff, 0xff, 1]); // a 2 GiB frame before authentication
  for (let i = 0; i < 10; i++) await rawSend(port, short);
  for (let i = 0; i < 10; i++) await rawSend(port, huge);
  await waitFor(
    () => d.transport.stats().rejected.malformed >= 10 && d.transport.stats().rejected.oversized >= 10,
    "raw frames refused",
    20_000,
  );
  assert.equal(lines.filter((l) => l.includes("(code malformed)")).length, 1, lines.join("\n"));
  assert.equal(lines.filter((l) => l.includes("(code oversized)")).length, 1, lines.join("\n"));
  assert.equal(d.status().term, term);
  assert.equal(d.status().role, "leader");
  // Still serving: a proposal commits.
  await d.propose(Buffer.from(JSON.stringify({ k: "k", v: "v" })));
});

it("the refusal log writes again after its interval with the count it left unsaid; its table is bounded", () => {
  let now = 0;
  const lines: string[] = [];
  const log = new RefusalLog(
    1000,
    (l) => lines.push(l),
    () => now,
  );
  for (let i = 0; i < 5; i++) log.note("p", "replay", "x");
  assert.equal(lines.length, 1);
  now = 999;
  log.note("p", "replay", "x");
  assert.equal(lines.length, 1, "a second line within the interval");
  now = 1000;
  log.note("p", "replay", "x");
  assert.equal(lines.length, 2);
  assert.match(lines[1], /\(code replay\) from p: x \(5 more since the last line\)/);
  log.note("p", "bad_mac", "y");
  log.note("q", "replay", "x");
  assert.equal(lines.length, 4, "another reason or another peer has its own line");
  // 2,000 made-up peer ids in one interval: at most one line per table slot, then one shared.
  for (let i = 0; i < 2000; i++) log.note(`peer${i}`, "bad_mac", "x");
  assert.ok(lines.length <= 4 + 1024 + 1, `${lines.length} lines`);
  assert.equal(lines.filter((l) => l.includes("from (other peers)")).length, 1);
});
