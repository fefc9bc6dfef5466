// retry.on: gateway-error. A 502/503/504 from the upstream, for an idempotent request and
// before any byte reached the client, is discarded and retried on the next distinct member
// within retry.attempts; without the option, for POST, or once attempts run out, the
// upstream's answer goes to the client unchanged, and no upstream socket is left busy.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { randomKeys } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { eventuallyTrue } from "../support/wait.js";
import { send, startHarness } from "./harness.js";

const SEED = testSeed(31);

type Members = Array<{ id: string; address: string }>;

type RetryOn = Array<"connect-failure" | "reset" | "timeout" | "gateway-error">;

function gatewayConfig(
  on: RetryOn,
  attempts = 2,
  budget: { budgetRatio?: number; minRetriesPerSecond?: number } = {},
): (members: Members) => ShardgateConfigInput {
  return (members) => ({
    pools: {
      users: { algorithm: "ring", members, retry: { attempts, on, ...budget } },
    },
    routes: [{ match: { host: "*", pathPrefix: "/" }, pool: "users", key: ["header:x-user-id"] }],
  });
}

function keyOwnedBy(h: Awaited<ReturnType<typeof startHarness>>, memberId: string, seed: number): string {
  for (const k of randomKeys(SEED + seed, 500)) if (h.plane.explain("users", k)?.owner === memberId) return k;
  throw new Error(`${seedNote(SEED)} (+${seed}): no key owned by ${memberId}`);
}

test("gateway-error listed: a 503 from the owner is discarded and the GET retried on the next member", async (t) => {
  const h = await startHarness({ members: 3, config: gatewayConfig(["connect-failure", "gateway-error"]) });
  t.after(() => h.close());
  const owner = h.upstreams[0];
  owner.mode = { kind: "status", status: 503 };
  const key = keyOwnedBy(h, owner.id, 41);
  for (const status of [502, 503, 504]) {
    owner.mode = { kind: "status", status };
    const r = await send(h.port, { headers: { "x-user-id": key } });
    assert.equal(r.status, 200, `upstream ${status}: ${r.text}`);
    assert.notEqual(r.json().member, owner.id);
    assert.equal(h.rec.retries.at(-1)?.kind, "gateway");
    assert.equal(h.rec.retries.at(-1)?.failed, owner.id);
    assert.equal(h.rec.ends.at(-1)?.attempts, 2);
    assert.equal(h.rec.ends.at(-1)?.status, 200);
  }
  assert.equal(h.rec.retries.length, 3);
  assert.ok(
    await eventuallyTrue(() => h.plane.upstreamSockets().busy === 0),
    `discarded responses left busy upstream sockets: ${JSON.stringify(h.plane.upstreamSockets())}`,
  );
  // A 500 is not a gateway error: it goes to the client as is.
  owner.mode = { kind: "status", status: 500 };
  const r500 = await send(h.port, { headers: { "x-user-id": key } });
  assert.equal(r500.status, 500);
  assert.equal(r500.json().member, owner.id);
  assert.equal(h.rec.retries.length, 3);
});

test("gateway-error not listed (the default): the upstream's 503 reaches the client unchanged", async (t) => {
  const h = await startHarness({ members: 3, config: gatewayConfig(["connect-failure", "reset"]) });
  t.after(() => h.close());
  const owner = h.upstreams[1];
  owner.mode = { kind: "status", status: 503 };
  const key = keyOwnedBy(h, owner.id, 42);
  const r = await send(h.port, { headers: { "x-user-id": key } });
  assert.equal(r.status, 503);
  assert.equal(r.headers["x-member"], owner.id);
  assert.equal(r.json().member, owner.id);
  assert.equal(h.rec.retries.length, 0);
  assert.equal(h.rec.ends.at(-1)?.attempts, 1);
});

test("gateway-error listed: POST is not retried, and the last attempt's 503 is passed through", async (t) => {
  const h = await startHarness({ members: 3, config: gatewayConfig(["gateway-error"], 2) });
  t.after(() => h.close());
  const owner = h.upstreams[2];
  const key = keyOwnedBy(h, owner.id, 43);
  owner.mode = { kind: "status", status: 502 };
  const post = await send(h.port, { method: "POST", headers: { "x-user-id": key }, body: "payload" });
  assert.equal(post.status, 502);
  assert.equal(post.json().member, owner.id);
  assert.equal(post.json().body, "payload");
  assert.equal(h.rec.retries.length, 0);

  // Every member answers 503: attempts=2 means one retry, then the second 503 is the answer.
  for (const u of h.upstreams) u.mode = { kind: "status", status: 503 };
  const before = h.upstreams.map((u) => u.requests);
  const get = await send(h.port, { headers: { "x-user-id": key } });
  assert.equal(get.status, 503, get.text);
  assert.notEqual(get.json().member, owner.id, "the answer is the retried member's");
  assert.equal(get.headers["x-member"], get.json().member);
  assert.equal(h.rec.retries.length, 1);
  assert.equal(h.rec.ends.at(-1)?.attempts, 2);
  const tried = h.upstreams.map((u, i) => u.requests - before[i]).reduce((a, b) => a + b, 0);
  assert.equal(tried, 2, "exactly two upstream requests");
  assert.ok(
    await eventuallyTrue(() => h.plane.upstreamSockets().busy === 0),
    `busy upstream sockets left: ${JSON.stringify(h.plane.upstreamSockets())}`,
  );
});

test("gateway-error retries of a seeded key stream: every GET ends 200 on a healthy member", async (t) => {
  // The retry budget is not under test here: with its default (10 retries a second, then 20% of
  // requests) a seed whose 30 keys put more than 10 on the sick member within a second saw
  // 504s the budget rightly passed through. A budget of every request lets each one retry.
  const budget = { budgetRatio: 1, minRetriesPerSecond: 1000 };
  const h = await startHarness({ members: 3, config: gatewayConfig(["gateway-error"], 3, budget) });
  t.after(() => h.close());
  const seed = SEED + 44;
  const sick = h.upstreams[0];
  sick.mode = { kind: "status", status: 504 };
  let retried = 0;
  for (const key of randomKeys(seed, 30)) {
    const r = await send(h.port, { headers: { "x-user-id": key } });
    assert.equal(r.status, 200, `${seedNote(SEED)} (+44) key ${key}: ${r.text}`);
    assert.notEqual(r.json().member, sick.id, `${seedNote(SEED)} (+44) key ${key}`);
    if (h.plane.explain("users", key)?.owner === sick.id) retried++;
  }
  assert.ok(retried > 0, `${seedNote(SEED)} (+44): no key was owned by the sick member`);
  assert.equal(h.rec.retries.length, retried, seedNote(SEED));
});
