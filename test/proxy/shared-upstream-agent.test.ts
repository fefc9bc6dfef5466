// Members forwarded through http-proxy-3 (members behind TLS; SHARDGATE_ENGINE=http-proxy)
// share one keep-alive agent per upstream address and TLS settings, as the undici engine's
// pools do: many members on one address do not each open (and handshake) connections of
// their own. Real upstreams on 127.0.0.1 count the connections they accept.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Endpoints, upstreamKey } from "../../proxy/forward/endpoints.js";
import { snapshotMember } from "../support/snapshot-member.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { send, startHarness } from "./harness.js";

const MEMBERS = 40;
const REQUESTS = 120;

/** Starts `server` on an ephemeral port; counts the connections it accepts (TLS: completed handshakes). */
async function counted(server: Server, event: "connection" | "secureConnection") {
  const seen = { connections: 0 };
  server.on(event, () => {
    seen.connections++;
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { seen, port: (server.address() as AddressInfo).port };
}

/** REQUESTS requests one after the other, each with its own key (so they spread over the members). */
async function spread(port: number): Promise<void> {
  for (let i = 0; i < REQUESTS; i++) {
    const r = await send(port, { path: `/s/${i}`, headers: { "x-user-id": `user-${i}` } });
    assert.equal(r.status, 200, `request ${i}: ${r.text}`);
  }
}

function poolOf(port: number, tls?: { ca: string }) {
  return () => ({
    pools: {
      shards: {
        algorithm: "ring" as const,
        members: Array.from({ length: MEMBERS }, (_, i) => ({ id: `m${i}`, address: `127.0.0.1:${port}` })),
        ...(tls === undefined ? {} : { tls }),
      },
    },
    routes: [{ match: { host: "*", pathPrefix: "/s/" }, pool: "shards", key: ["header:x-user-id"] }],
  });
}

test("members behind TLS on one address share connections: a handshake per connection, not per member", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-shared-agent-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "server", "upstream", "IP:127.0.0.1");
  const server = createHttpsServer(
    { cert: readFileSync(join(dir, "server.pem")), key: readFileSync(join(dir, "server.key")) },
    (_req, res) => res.end("ok"),
  );
  const up = await counted(server, "secureConnection");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const h = await startHarness({ members: 1, config: poolOf(up.port, { ca: join(dir, "ca.pem") }) });
  t.after(() => h.close());
  await spread(h.port);
  const served = new Set(h.rec.ends.map((e) => e.member));
  assert.ok(served.size >= MEMBERS / 2, `requests spread over ${served.size} members`);
  // One request at a time: one connection carries them all (two allowed for a keep-alive race).
  assert.ok(up.seen.connections <= 2, `${up.seen.connections} TLS handshakes for ${served.size} members`);
});

test("engine http-proxy: members on one plain address share connections", async (t) => {
  const server = createHttpServer((_req, res) => res.end("ok"));
  const up = await counted(server, "connection");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const h = await startHarness({ members: 1, config: poolOf(up.port), options: { engine: "http-proxy" } });
  t.after(() => h.close());
  await spread(h.port);
  const served = new Set(h.rec.ends.map((e) => e.member));
  assert.ok(served.size >= MEMBERS / 2, `requests spread over ${served.size} members`);
  assert.ok(up.seen.connections <= 2, `${up.seen.connections} connections for ${served.size} members`);
});

test("an agent is shared by address and TLS settings, and retired with its last member", () => {
  const eps = new Endpoints({ maxSockets: 8, idleMs: 4000 });
  try {
    const a = snapshotMember("a", "127.0.0.1:1");
    const b = snapshotMember("b", "127.0.0.1:1");
    const c = snapshotMember("c", "127.0.0.1:2");
    const d = snapshotMember("d", "127.0.0.1:1", { ca: "/nonexistent-ca.pem" });
    const [ea, eb, ec] = [eps.get(a), eps.get(b), eps.get(c)];
    assert.equal(ea.agent, eb.agent, "same address: one agent");
    assert.notEqual(ea.agent, ec.agent, "another address: another agent");
    assert.notEqual(ea.target, eb.target, "targets stay per member (they tell attempts apart)");
    assert.notEqual(upstreamKey(a), upstreamKey(d), "TLS settings are part of the key");
    assert.equal(eps.agentCount(), 2);
    eps.retain(new Set([a.agentKey, c.agentKey]), 1000);
    assert.equal(eps.get(a).agent, ea.agent, "b's retirement leaves the agent a still uses");
    assert.equal(eps.agentCount(), 2);
    eps.retain(new Set([c.agentKey]), 1000);
    assert.equal(eps.agentCount(), 1, "retired with its last member");
    assert.notEqual(eps.get(b).agent, ea.agent, "a member coming back gets a fresh agent");
  } finally {
    eps.closeAll();
  }
});
