// The Raft driver counted refused cluster traffic (a removed member's vote requests, a message
// claiming another sender, undecodable payloads) but only the log said so, at most a line per
// peer and reason per minute: no metric to alert on. Now shardgate_raft_refused_total{reason}
// (proxy/metrics/cluster-metrics.ts, README "Metrics"). A real shardgate process running a
// one-voter cluster on a loopback Raft port; a peer that knows the secret but is no member
// sends forged messages over the real transport, and /metrics counts each by its reason.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encodeMessages, newMessage } from "../../config/raft/core/index.js";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const SECRET = "raft-refused-metric-secret-0123456789";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
let raftAddr = "";
let dataDir = "";
let removed: TcpTransport | undefined;

before(async () => {
  upstreams = await startUpstreams(1);
  const [raft] = await freePorts(1);
  raftAddr = `127.0.0.1:${raft}`;
  dataDir = mkdtempSync(join(tmpdir(), "sg-raft-refused-"));
  sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
cluster:
  id: a
  dataDir: ${JSON.stringify(dataDir)}
  secret: "${SECRET}"
  peers:
    - { id: a, address: "${raftAddr}" }
pools:
  p:
    members:
      - { id: m1, address: "127.0.0.1:${upstreams[0].port}" }
routes:
  - match: { pathPrefix: / }
    pool: p
    key: [header:x-k, ip]
`);
});

after(async () => {
  await removed?.stop();
  await stopAll();
  await closeAll(upstreams);
  rmSync(dataDir, { recursive: true, force: true });
});

/** Every `shardgate_raft_refused_total` sample on /metrics, by reason, and the raft term. */
async function scrape(): Promise<{ refused: Record<string, number>; term: number; text: string }> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  const refused: Record<string, number> = {};
  for (const m of text.matchAll(/^shardgate_raft_refused_total\{reason="([^"]+)"\} (\S+)$/gm))
    refused[m[1]] = Number(m[2]);
  const term = Number(/^shardgate_raft_term (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
  return { refused, term, text };
}

test("forged Raft messages raise shardgate_raft_refused_total{reason} on a real process", async () => {
  const before = await eventually(
    "the one voter leads",
    async () => {
      const s = await scrape();
      return /^shardgate_raft_is_leader 1$/m.test(s.text) ? s : undefined;
    },
    30_000,
    100,
  );
  assert.match(before.text, /^# TYPE shardgate_raft_refused_total counter$/m);
  for (const reason of ["vote_from_non_voter", "timeout_now_not_leader", "spoofed_sender", "undecodable"])
    assert.equal(before.refused[reason], 0, `${reason} starts at 0:\n${before.text}`);

  // Knows the secret, is no member (a removed node still running).
  removed = new TcpTransport({ id: "removed", secret: SECRET, peers: { a: raftAddr }, onMessage: () => {} });
  await removed.start();
  const N = 6;
  for (let i = 0; i < N; i++) {
    const at = before.term + 1 + i;
    const vote = newMessage({
      type: "vote",
      from: "removed",
      to: "a",
      term: at,
      index: 1000,
      logTerm: at,
      force: true,
    });
    removed.send("a", encodeMessages([vote]));
    const nudge = newMessage({ type: "timeoutNow", from: "removed", to: "a", term: before.term });
    removed.send("a", encodeMessages([nudge]));
    // Authenticated as "removed", claiming to be the leader itself.
    const spoof = newMessage({ type: "heartbeat", from: "a", to: "a", term: before.term + 50 });
    removed.send("a", encodeMessages([spoof]));
    removed.send("a", Buffer.from(`not a batch ${i}`));
  }
  const kinds = ["vote_from_non_voter", "timeout_now_not_leader", "spoofed_sender", "undecodable"];
  let last = before;
  const after = await eventually(
    `each forged kind counted ${N} times`,
    async () => {
      last = await scrape();
      return kinds.every((r) => last.refused[r] === N) ? last : undefined;
    },
    30_000,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${JSON.stringify(last.refused)}`);
  });
  assert.equal(after.term, before.term, "refused traffic moved the term");
  assert.match(after.text, /^shardgate_raft_is_leader 1$/m, "still the leader");
});
