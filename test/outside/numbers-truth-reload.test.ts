// Tried from the outside: requests still in flight on a member when a reload removes it. The
// clients are answered by that member after the reload; the metrics and the access log must
// say so: one line each with the status sent and the member that answered, requests_total
// counting them under member="removed" (README Metrics), the in-flight gauges counting them
// while they wait and back to 0 after, no series left for the removed member, and the duration
// histogram's _count equal to requests_total. Real shardgate process, real members, node:http
// clients, loopback; keys chosen by a seeded draw among those /admin/route says m2 owns.

import assert from "node:assert/strict";
import { Agent, createServer, request as httpRequest, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { parsePromSamples, sumOf } from "../support/prom-samples.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { eventually, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(14_061_216);
const HELD = 4;
const QUICK = 6;

const servers: Server[] = [];

after(async () => {
  await stopAll();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A member answering 200 with its id; with `held`, each request waits until release(). */
async function member(id: string, held: ServerResponse[] | null): Promise<number> {
  const s = createServer((req, res) => {
    req.resume();
    const answer = (): void => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": String(id.length) });
      res.end(id);
    };
    if (held !== null) held.push(Object.assign(res, { answer }));
    else answer();
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  servers.push(s);
  return (s.address() as AddressInfo).port;
}

function get(
  port: number,
  agent: Agent,
  path: string,
  key: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path, agent, headers: { "x-user-id": key } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function scrape(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`)).text();
}

test("requests in flight across a reload that removes their member: counted, logged and gauged as they happened", async () => {
  const held: Array<ServerResponse & { answer?: () => void }> = [];
  const p1 = await member("m1", null);
  const p2 = await member("m2", held);
  const yaml = (ms: Array<{ id: string; port: number }>) =>
    poolConfig({ members: ms, poolExtra: "    timeouts: { response: 120s }" });
  const sg = await startShardgate(
    yaml([
      { id: "m1", port: p1 },
      { id: "m2", port: p2 },
    ]),
  );
  const port = Number(new URL(sg.httpUrl).port);
  const agent = new Agent({ keepAlive: true, maxSockets: HELD + 2 });
  try {
    // Keys m2 owns, and keys m1 owns, by shardgate's own account.
    const random = seededRandom(SEED);
    const owned: Record<string, string[]> = { m1: [], m2: [] };
    for (let i = 0; i < 200 && (owned.m1.length < QUICK || owned.m2.length < HELD); i++) {
      const key = `k-${Math.floor(random() * 1e9)}`;
      const r = (await (await fetch(`${sg.adminUrl}/admin/route?pool=users&key=${key}`)).json()) as {
        member: string;
      };
      owned[r.member]?.push(key);
    }
    assert.ok(
      owned.m2.length >= HELD && owned.m1.length >= QUICK,
      `keys for both members; ${seedNote(SEED)}`,
    );

    const pending = owned.m2.slice(0, HELD).map((k, i) => get(port, agent, `/held/${i}`, k));
    await eventually("m2 holding every request", () => (held.length === HELD ? true : undefined));
    for (let i = 0; i < QUICK; i++)
      assert.equal((await get(port, agent, `/quick/${i}`, owned.m1[i])).status, 200);

    const from = sg.proc.lines.length;
    sg.config.write(yaml([{ id: "m1", port: p1 }]));
    sg.proc.signal("SIGHUP");
    await sg.proc.waitForLine("the reload", (l) => l.msg === "config reloaded", undefined, from);
    // The removed member's held requests are still in flight: the gauge says so.
    const during = parsePromSamples(
      await eventually("m2's series gone after the reload", async () => {
        const t = await scrape(sg.adminUrl);
        return t.includes('member="m2"') ? undefined : t;
      }),
    );
    assert.equal(sumOf(during, "shardgate_requests_in_flight", { pool: "users" }), HELD, seedNote(SEED));
    assert.equal(
      sumOf(during, "shardgate_member_requests_in_flight", { pool: "users", member: "removed" }),
      HELD,
      seedNote(SEED),
    );

    for (const r of held) r.answer?.();
    const answers = await Promise.all(pending);
    for (const a of answers) assert.deepEqual(a, { status: 200, body: "m2" });

    const lines = await eventually("every access line", () => {
      const l = sg.proc.lines.filter((x) => x.type === "access");
      return l.length >= HELD + QUICK ? l : undefined;
    });
    assert.equal(lines.length, HELD + QUICK);
    for (const l of lines.filter((x) => String(x.path).startsWith("/held/"))) {
      assert.equal(l.status, 200, JSON.stringify(l));
      assert.equal(l.member, "m2", JSON.stringify(l));
    }

    const text = await eventually("in-flight gauges at 0", async () => {
      const t = await scrape(sg.adminUrl);
      const s = parsePromSamples(t);
      return sumOf(s, "shardgate_requests_in_flight") === 0 &&
        sumOf(s, "shardgate_member_requests_in_flight") === 0
        ? t
        : undefined;
    });
    const s = parsePromSamples(text);
    assert.ok(!text.includes('member="m2"'), "no series of the removed member");
    assert.equal(
      sumOf(s, "shardgate_requests_total", { pool: "users", member: "removed", code_class: "2xx" }),
      HELD,
    );
    assert.equal(
      sumOf(s, "shardgate_requests_total", { pool: "users", member: "m1", code_class: "2xx" }),
      QUICK,
    );
    assert.equal(sumOf(s, "shardgate_requests_total", { pool: "users" }), HELD + QUICK);
    assert.equal(sumOf(s, "shardgate_request_duration_seconds_count", { pool: "users" }), HELD + QUICK);
    const promtool = await promtoolCheckMetrics(text);
    assert.equal(promtool.code, 0, promtool.out);
  } finally {
    agent.destroy();
  }
});
