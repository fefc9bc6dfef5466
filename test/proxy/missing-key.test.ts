// Missing-key policies end to end: random spreads keyless requests, reject answers 400
// missing_key, cookie issues a sticky id that routes this and every later request alike.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { send, startHarness } from "./harness.js";

function configWith(policy: "random" | "reject" | "cookie") {
  return (members: Array<{ id: string; address: string }>): ShardgateConfigInput => ({
    pools: { users: { members } },
    routes: [
      {
        match: { host: "*", pathPrefix: "/" },
        pool: "users",
        key: ["header:x-user-id"],
        onMissingKey: policy,
        cookie: { name: "sg_key", ttl: "2h", secure: true, sameSite: "strict" as const, path: "/app" },
      },
    ],
  });
}

test("reject: a request without a key gets 400 missing_key", async (t) => {
  const h = await startHarness({ members: 2, config: configWith("reject") });
  t.after(() => h.close());
  const r = await send(h.port);
  assert.equal(r.status, 400);
  assert.deepEqual(Object.keys(r.json()).sort(), ["error", "message", "requestId"]);
  assert.equal(r.json().error, "missing_key");
  assert.equal(h.upstreams[0].requests + h.upstreams[1].requests, 0);
  assert.equal(h.rec.ends.at(-1)?.errorCode, "missing_key");
});

test("random: keyless requests spread over members (seeded)", async (t) => {
  const seed = testSeed(4242);
  const h = await startHarness({
    members: 3,
    config: configWith("random"),
    options: { random: seededRandom(seed) },
  });
  t.after(() => h.close());
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) seen.add((await send(h.port)).json().member);
  assert.equal(seen.size, 3, `${seedNote(seed)}: only ${[...seen]}`);
  assert.equal(h.rec.ends.at(-1)?.keyHash, -1, "no key, no key hash");
});

test("cookie: issues a sticky cookie, routes by it, and the next request sticks", async (t) => {
  const h = await startHarness({ members: 3, config: configWith("cookie") });
  t.after(() => h.close());
  for (let round = 0; round < 5; round++) {
    const first = await send(h.port);
    assert.equal(first.status, 200);
    const setCookie = first.headers["set-cookie"]?.[0] ?? "";
    const m = /^sg_key=([0-9a-f-]{36}); Path=\/app; Max-Age=7200; HttpOnly; Secure; SameSite=Strict$/.exec(
      setCookie,
    );
    assert.ok(m, `unexpected Set-Cookie: ${setCookie}`);
    const id = m[1];
    assert.equal(
      h.plane.explain("users", id)?.member,
      first.json().member,
      "this request was routed by the new id",
    );
    for (let i = 0; i < 3; i++) {
      const next = await send(h.port, { headers: { cookie: `other=1; sg_key=${id}` } });
      assert.equal(next.json().member, first.json().member);
      assert.equal(next.headers["set-cookie"], undefined, "no new cookie once the client has one");
    }
  }
});
