// Members of `protocol: h2c | h2` pools share one HTTP/2 session per upstream address and TLS
// settings, as HTTP/1 members share an agent (shared-upstream-agent.test.ts): many members on
// one address do not each open (and handshake) a session of their own. A real HTTP/2 upstream
// on 127.0.0.1 counts the sessions it accepts.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { H2Sessions } from "../../proxy/forward/h2-sessions.js";
import { startH2Upstream } from "../support/h2-upstreams.js";
import { snapshotMember } from "../support/snapshot-member.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { send, startHarness } from "./harness.js";

const MEMBERS = 40;
const REQUESTS = 120;

async function sessionsFor(t: { after(fn: () => unknown): void }, tlsDir?: string) {
  const certs =
    tlsDir === undefined
      ? undefined
      : { certFile: join(tlsDir, "server.pem"), keyFile: join(tlsDir, "server.key") };
  const up = await startH2Upstream("up", certs);
  t.after(() => up.close());
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: {
        shards: {
          algorithm: "ring" as const,
          protocol: tlsDir === undefined ? "h2c" : "h2",
          members: Array.from({ length: MEMBERS }, (_, i) => ({
            id: `m${i}`,
            address: `127.0.0.1:${up.port}`,
          })),
          ...(tlsDir === undefined ? {} : { tls: { ca: join(tlsDir, "ca.pem") } }),
        },
      },
      routes: [{ match: { host: "*", pathPrefix: "/s/" }, pool: "shards", key: ["header:x-user-id"] }],
    }),
  });
  t.after(() => h.close());
  // One request at a time, each with its own key, so they spread over the members.
  for (let i = 0; i < REQUESTS; i++) {
    const r = await send(h.port, { path: `/s/${i}`, headers: { "x-user-id": `user-${i}` } });
    assert.equal(r.status, 200, `request ${i}: ${r.text}`);
  }
  const served = new Set(h.rec.ends.map((e) => e.member));
  assert.ok(served.size >= MEMBERS / 2, `requests spread over ${served.size} members`);
  assert.equal(up.requests, REQUESTS);
  // One session carries them all (two allowed for a session replaced in a race).
  assert.ok(up.sessions <= 2, `${up.sessions} HTTP/2 sessions for ${served.size} members on one address`);
}

test("h2c members on one address share one HTTP/2 session", async (t) => {
  await sessionsFor(t);
});

test("h2 members behind TLS on one address share one session: one handshake, not one per member", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-shared-h2-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "server", "upstream", "IP:127.0.0.1");
  await sessionsFor(t, dir);
});

test("a session is shared by address, TLS settings and protocol, and retired with its last member", async (t) => {
  const up = await startH2Upstream("up");
  t.after(() => up.close());
  const sessions = new H2Sessions({ idleMs: 4000 }, Date.now);
  t.after(() => sessions.closeAll());
  const addr = `127.0.0.1:${up.port}`;
  const a = snapshotMember("a", addr);
  const b = snapshotMember("b", addr);
  const other = snapshotMember("c", "127.0.0.1:1");
  const sa = sessions.get(a, "h2c", 1000);
  assert.ok(!(sa instanceof Error));
  assert.equal(sessions.get(b, "h2c", 1000), sa, "same address: one session");
  assert.notEqual(sessions.get(a, "h2", 1000), sa, "another protocol: another session");
  assert.notEqual(sessions.get(snapshotMember("d", addr, { ca: "/nonexistent-ca.pem" }), "h2", 1000), sa);
  assert.notEqual(sessions.get(other, "h2c", 1000), sa, "another address: another session");
  assert.equal(sessions.sessionCount(), 4);
  sessions.retain(new Set([a.agentKey, other.agentKey]), 1000);
  assert.equal(sessions.get(a, "h2c", 1000), sa, "b's retirement leaves the session a still uses");
  assert.ok(!sa.closed, "still open");
  assert.equal(sessions.sessionCount(), 3, "b's and d's left; a's h2 one and c's stay");
  sessions.retain(new Set([other.agentKey]), 1000);
  assert.equal(sessions.sessionCount(), 1, "retired with its last member");
  assert.ok(sa.closed, "closed with its last member");
  assert.notEqual(sessions.get(b, "h2c", 1000), sa, "a member coming back gets a fresh session");
});
