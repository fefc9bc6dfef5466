import assert from "node:assert/strict";
import { test } from "node:test";
import { CookieCodec } from "../../proxy/affinity/cookie-codec.js";
import { hashKey } from "../../ring/hash.js";
import { send } from "../proxy/harness.js";
import { eventually } from "../support/wait.js";
import { type EdgeHarness, setCookieValue, startEdgeHarness } from "./edge-harness.js";

const COOKIE = "sg_aff";

async function start(t: { after(fn: () => Promise<void>): void }, secret?: string): Promise<EdgeHarness> {
  const h = await startEdgeHarness({
    members: 3,
    secret,
    config: (members) => ({
      pools: { users: { members } },
      routes: [
        {
          pool: "users",
          key: ["header:x-user-id"],
          affinity: { cookie: { name: COOKIE, ttl: "1h" }, drainDeadline: "1500ms" },
        },
      ],
    }),
  });
  t.after(() => h.close());
  return h;
}

/** The ring owner of `key` in the harness's current snapshot. */
function ownerOf(h: EdgeHarness, key: string): string {
  const snap = h.holder.get().pools.get("users");
  assert.ok(snap);
  return snap.members[snap.table.lookup(hashKey(key))].id;
}

/** A key whose ring owner is not `member`. */
function keyNotOwnedBy(h: EdgeHarness, member: string): string {
  for (let i = 0; i < 1000; i++) if (ownerOf(h, `k${i}`) !== member) return `k${i}`;
  throw new Error("no such key");
}

async function get(h: EdgeHarness, key: string, cookie?: string) {
  const headers: Record<string, string> = { "x-user-id": key };
  if (cookie !== undefined) headers.cookie = `other=1; ${COOKIE}=${cookie}`;
  const r = await send(h.port, { headers });
  assert.equal(r.status, 200, r.text);
  return { member: r.json().member as string, issued: setCookieValue(r.headers, COOKIE) };
}

test("the first response sets a signed cookie naming the member that served", async (t) => {
  const h = await start(t);
  const first = await get(h, "alice");
  assert.equal(first.member, ownerOf(h, "alice"));
  assert.ok(first.issued, "a cookie was set");
  assert.equal(h.codec.verify("users", first.issued, Math.floor(Date.now() / 1000)), first.member);
  // The cookie now names the member that serves: not re-issued.
  const again = await get(h, "alice", first.issued);
  assert.equal(again.member, first.member);
  assert.equal(again.issued, undefined);
});

test("a valid cookie wins over the ring: the request goes to the member it names", async (t) => {
  const h = await start(t);
  const pinned = ownerOf(h, "alice");
  const cookie = (await get(h, "alice")).issued as string;
  const other = keyNotOwnedBy(h, pinned);
  const r = await get(h, other, cookie);
  assert.equal(r.member, pinned, "served by the cookie's member, not the key's ring owner");
  assert.equal(r.issued, undefined);
  assert.ok(h.rec.notOwner.includes("affinity"), `not-owner reasons: ${h.rec.notOwner.join()}`);
});

test("forged, tampered, foreign-key and other-pool cookies are refused: ring owner, cookie re-issued", async (t) => {
  const h = await start(t);
  const pinned = ownerOf(h, "alice");
  const good = (await get(h, "alice")).issued as string;
  const key = keyNotOwnedBy(h, pinned);
  const owner = ownerOf(h, key);
  const [idPart, expPart, mac] = good.split(".");
  const otherMember = h.upstreams.map((u) => u.id).find((id) => id !== pinned) as string;
  const now = Math.floor(Date.now() / 1000);
  const forgeries: Record<string, string> = {
    "tampered MAC": `${idPart}.${expPart}.${mac.slice(0, -2)}${mac.endsWith("AA") ? "BB" : "AA"}`,
    "member swapped": `${Buffer.from(otherMember).toString("base64url")}.${expPart}.${mac}`,
    "expiry extended": `${idPart}.${(now + 999_999).toString(36)}.${mac}`,
    "another fleet's key": new CookieCodec("another-secret-entirely").sign("users", pinned, now + 3600),
    "another pool's cookie": h.codec.sign("other", pinned, now + 3600),
    expired: h.codec.sign("users", pinned, now - 1),
    garbage: "x.y.z",
    empty: "",
  };
  for (const [what, value] of Object.entries(forgeries)) {
    const r = await get(h, key, value);
    assert.equal(r.member, owner, `${what}: served by the ring owner`);
    assert.ok(r.issued, `${what}: a fresh cookie is issued`);
    assert.equal(h.codec.verify("users", r.issued, now), owner, `${what}: the new cookie names the owner`);
  }
});

test("a cookie for an unhealthy member moves to the ring's choice and is re-issued", async (t) => {
  const h = await start(t);
  const pinned = ownerOf(h, "alice");
  const cookie = (await get(h, "alice")).issued as string;
  const key = keyNotOwnedBy(h, pinned);
  h.setFlags({ users: { [pinned]: { healthy: false } } });
  const r = await get(h, key, cookie);
  assert.equal(r.member, ownerOf(h, key));
  assert.equal(h.codec.verify("users", r.issued as string, Math.floor(Date.now() / 1000)), r.member);
});

test("a draining member keeps its cookie sessions until the drain deadline, then they move", async (t) => {
  const h = await start(t);
  const pinned = ownerOf(h, "alice");
  const cookie = (await get(h, "alice")).issued as string;
  const key = keyNotOwnedBy(h, pinned);
  h.setFlags({ users: { [pinned]: { draining: true } } });
  // New sessions avoid the draining member...
  const fresh = await get(h, "alice");
  assert.notEqual(fresh.member, pinned);
  // ...existing ones stay (the deadline counts from when this instance first saw the drain)...
  const kept = await get(h, key, cookie);
  assert.equal(kept.member, pinned);
  // ...until the deadline passes.
  const moved = await eventually(
    "the drained member's session to move",
    async () => {
      const r = await get(h, key, cookie);
      return r.member !== pinned ? r : undefined;
    },
    10_000,
    100,
  );
  assert.equal(moved.member, ownerOf(h, key));
  assert.ok(moved.issued);
  assert.ok(h.rec.notOwner.includes("drain"), `not-owner reasons: ${h.rec.notOwner.join()}`);
});
