// Upstream TLS and mTLS per pool: a member that requires a client certificate signed by a
// test CA (made here with the openssl CLI), reached through shardgate with and without the
// client certificate, with and without verification of the member's certificate.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { TLSSocket } from "node:tls";
import { unreadableTlsFiles, unverifiedTlsPools } from "../../proxy/forward/upstream-tls.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { send, startHarness } from "./harness.js";

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA; plus an unrelated CA. */
function makeCerts(dir: string): void {
  makeCa(dir);
  makeCa(dir, "other", "other-ca");
  issueCert(dir, "server", "upstream", "IP:127.0.0.1");
  issueCert(dir, "client", "shardgate-client");
}

/** An HTTPS member that refuses connections without a client certificate signed by the CA. */
async function mtlsUpstream(dir: string): Promise<{ server: Server; port: number }> {
  const server = createServer(
    {
      cert: readFileSync(join(dir, "server.pem")),
      key: readFileSync(join(dir, "server.key")),
      ca: readFileSync(join(dir, "ca.pem")),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ member: "tls-a", client: peer.subject?.CN, path: req.url }));
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

test("a pool with tls {ca, cert, key} reaches a member that requires a client certificate", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-mtls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCerts(dir);
  const up = await mtlsUpstream(dir);
  t.after(() => {
    up.server.closeAllConnections();
    up.server.close();
  });
  const member = [{ id: "tls-a", address: `127.0.0.1:${up.port}` }];
  const pools = {
    full: {
      members: member,
      tls: { ca: join(dir, "ca.pem"), cert: join(dir, "client.pem"), key: join(dir, "client.key") },
    },
    nocert: { members: member, tls: { ca: join(dir, "ca.pem") } },
    wrongca: {
      members: member,
      tls: { ca: join(dir, "other.pem"), cert: join(dir, "client.pem"), key: join(dir, "client.key") },
    },
    unverified: {
      members: member,
      tls: { verify: false, cert: join(dir, "client.pem"), key: join(dir, "client.key") },
    },
    plain: { members: member },
    // A file gone after start (a reload naming a new path): failed handshakes, not a crash nor an unverified link.
    missing: {
      members: member,
      tls: {
        verify: false,
        ca: join(dir, "gone.pem"),
        cert: join(dir, "client.pem"),
        key: join(dir, "client.key"),
      },
    },
  };
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools,
      routes: Object.keys(pools).map((p) => ({
        match: { host: "*", pathPrefix: `/${p}/` },
        pool: p,
        key: ["header:x-user-id"],
      })),
    }),
  });
  t.after(() => h.close());
  const headers = { "x-user-id": "u1" };

  const ok = await send(h.port, { path: "/full/a", headers });
  assert.equal(ok.status, 200);
  assert.equal(ok.json().client, "shardgate-client", "the member saw shardgate's client certificate");
  // Keep-alive reuse over TLS: a second request works too.
  assert.equal((await send(h.port, { path: "/full/b", headers })).status, 200);

  // No client certificate: the member refuses the handshake, the client gets a coded 502.
  const nocert = await send(h.port, { path: "/nocert/a", headers });
  assert.equal(nocert.status, 502, nocert.text);
  assert.match(nocert.text, /"error":"upstream_/);
  // The member's certificate does not chain to the configured CA: verification (on by default) refuses it.
  const wrong = await send(h.port, { path: "/wrongca/a", headers });
  assert.equal(wrong.status, 502, wrong.text);
  // Plain HTTP to a TLS member fails too (no silent downgrade).
  assert.equal((await send(h.port, { path: "/plain/a", headers })).status, 502);
  // verify: false accepts the unknown chain (and is what the load warning names).
  const unverified = await send(h.port, { path: "/unverified/a", headers });
  assert.equal(unverified.status, 200, unverified.text);
  assert.equal(unverified.json().client, "shardgate-client");
  assert.deepEqual(unverifiedTlsPools(h.config.pools), ["unverified", "missing"]);
  assert.deepEqual(unreadableTlsFiles(h.config.pools).length, 1);
  const missing = await send(h.port, { path: "/missing/a", headers });
  assert.equal(missing.status, 502, missing.text);
  assert.equal((await send(h.port, { path: "/full/c", headers })).status, 200, "the proxy still serves");
});

test("pools.P.tls: cert without key is a config error; verify defaults to on", async () => {
  const { configSchema } = await import("../../config/file/schema.js");
  const base = { routes: [{ pool: "p", key: ["ip"] }] };
  const bad = configSchema.safeParse({ ...base, pools: { p: { tls: { cert: "/x.pem" } } } });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /cert and key go together/);
  const good = configSchema.parse({ ...base, pools: { p: { tls: {} } } });
  assert.equal(good.pools.p.tls?.verify, true);
  assert.equal(good.pools.p.tls?.minVersion, "TLSv1.2");
});
