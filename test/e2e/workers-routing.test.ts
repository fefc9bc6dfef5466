// `workers: 2` routes as one process does: the same keys reach the same members at the same
// ring version as a single-process instance of the same file, whichever worker serves them;
// a drain committed through the admin API is followed by both workers; a SIGHUP reload
// reaches both; /metrics counts the requests of both workers.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { seededRandom, testSeed } from "../support/prng.js";
import {
  fetchJson,
  metricLines,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { allWorkersAt, getOnFreshConnection, servingPids, spreadUntilPids } from "../support/workers.js";

const SEED = testSeed(1515);
const KEYS = 120;
const TOKEN = "workers-test-token";

function config(upstreams: readonly EchoUpstream[], accessLog = true): string {
  return `${poolConfig({
    members: upstreams.map((u) => ({ id: u.id, port: u.port })),
    token: TOKEN,
    accessLog,
  })}headers:
  ringVersionHeader: x-ring-version
`;
}

describe(`workers: 2 (seed ${SEED})`, { timeout: 240_000 }, () => {
  let upstreams: EchoUpstream[] = [];
  let single: RunningShardgate;
  let two: RunningShardgate;
  const random = seededRandom(SEED);
  const keys = Array.from({ length: KEYS }, () => `user-${Math.floor(random() * 1e9)}`);

  before(async () => {
    upstreams = await startUpstreams(4, "w");
    [single, two] = await Promise.all([
      startShardgate(config(upstreams), { timeoutMs: 60_000 }),
      startShardgate(config(upstreams), { args: ["--workers", "2"], timeoutMs: 60_000 }),
    ]);
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });

  it("routes every key to the member a single process picks, at the same ring version, from both workers", async () => {
    const views = await allWorkersAt(two, 2, 1);
    const from = two.proc.lines.length;
    const want = new Map<string, string>();
    let version = "";
    for (const k of keys) {
      const r = await getOnFreshConnection(single.httpUrl, "/", k);
      assert.equal(r.status, 200, `seed ${SEED}: single-process reply for ${k}`);
      want.set(k, r.member);
      version = r.ringVersion;
    }
    for (const k of keys) {
      const r = await getOnFreshConnection(two.httpUrl, "/", k);
      assert.equal(r.status, 200, `seed ${SEED}: 2-worker reply for ${k}`);
      assert.equal(
        r.member,
        want.get(k),
        `seed ${SEED}: key ${k} went to ${r.member}, a single process sends it to ${want.get(k)}`,
      );
      assert.equal(r.ringVersion, version, `seed ${SEED}: ring version of ${k}`);
    }
    // The workers accept on one shared socket, so which one takes a connection is the kernel's
    // choice: go on (same keys, same check) until both have served.
    const more = await spreadUntilPids(two, (i) => keys[i % KEYS], 2, 400, from);
    for (const [i, r] of more.entries())
      assert.equal(
        r.member,
        want.get(keys[i % KEYS]),
        `seed ${SEED}: key ${keys[i % KEYS]} on a second pass`,
      );
    const pids = servingPids(two.proc.lines, from);
    assert.deepEqual(
      [...pids].sort(),
      views.map((v) => v.pid).sort(),
      "the serving pids are the two workers",
    );
  });

  it("a drain committed through the admin API is followed by both workers", async () => {
    const owner = (await getOnFreshConnection(two.httpUrl, "/", keys[0])).member;
    const drained = await fetchJson(`${two.adminUrl}/admin/pools/users/members/${owner}/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(drained.status, 200, drained.text);
    const version = (drained.body as { ringVersion: number }).ringVersion;
    assert.ok(version > 0, drained.text);
    await allWorkersAt(two, 2, version);
    const from = two.proc.lines.length;
    const replies = await spreadUntilPids(two, (i) => keys[i % KEYS], 2, 400, from);
    for (const r of replies) {
      assert.equal(r.status, 200);
      assert.notEqual(r.member, owner, `seed ${SEED}: a worker still routes to drained ${owner}`);
      assert.equal(Number(r.ringVersion), version, "every reply at the drain's ring version");
    }
    const undrained = await fetchJson(`${two.adminUrl}/admin/pools/users/members/${owner}/undrain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(undrained.status, 200, undrained.text);
  });

  it("/metrics counts the requests of both workers", async () => {
    const before = await requestCount(two);
    const from = two.proc.lines.length;
    const replies = await spreadUntilPids(two, (i) => keys[(i * 7) % KEYS], 2, 400, from);
    const after = await requestCount(two);
    assert.equal(
      after - before,
      replies.length,
      `the ${replies.length} requests served by workers ${[...servingPids(two.proc.lines, from)].join(", ")} are all counted`,
    );
    const workersUp = metricLines(await (await fetch(`${two.adminUrl}/metrics`)).text(), "shardgate_workers");
    assert.deepEqual(workersUp, ["shardgate_workers 2"]);
  });

  it("a SIGHUP reload reaches both workers (access log switched off, then on again)", async () => {
    two.config.write(config(upstreams, false));
    let mark = two.proc.lines.length;
    two.proc.signal("SIGHUP");
    await two.proc.waitForLine("the reload", (l) => l.msg === "config reloaded", 30_000, mark);
    const offFrom = two.proc.lines.length;
    // 40 connections: the primary hands them round-robin, so both workers serve some.
    for (let i = 0; i < 40; i++)
      assert.equal((await getOnFreshConnection(two.httpUrl, "/", keys[i])).status, 200);
    two.config.write(config(upstreams, true));
    mark = two.proc.lines.length;
    two.proc.signal("SIGHUP");
    const reloaded = await two.proc.waitForLine(
      "the second reload",
      (l) => l.msg === "config reloaded",
      30_000,
      mark,
    );
    const offTo = two.proc.lines.indexOf(reloaded);
    assert.equal(
      servingPids(two.proc.lines.slice(offFrom, offTo)).size,
      0,
      "no worker wrote access lines while the reloaded file had them off",
    );
    // Both workers log again: each got the reloaded local sections.
    await spreadUntilPids(two, (i) => keys[(i * 3) % KEYS], 2, 400, two.proc.lines.length);
  });
});

async function requestCount(sg: RunningShardgate): Promise<number> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of metricLines(text, "shardgate_requests_total"))
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  return sum;
}
