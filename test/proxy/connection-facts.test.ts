// X-Forwarded-* and Forwarded on one keep-alive connection whose requests go to routes with
// different trusted-proxy lists and carry different Host headers: the values shardgate keeps
// per connection (connection-facts.ts: the peer, TLS or not, trusted or not per route's list,
// this hop's Forwarded element per Host and scheme) must still come out right for each request.

import assert from "node:assert/strict";
import { Agent } from "node:http";
import { test } from "node:test";
import { send, startHarness } from "./harness.js";

test("forwarded headers per request on one keep-alive connection: route's trust and Host each time", async (t) => {
  const h = await startHarness({
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [
        { match: { pathPrefix: "/trusted/" }, pool: "users", key: ["ip"], trustedProxies: ["127.0.0.1"] },
        { match: { pathPrefix: "/" }, pool: "users", key: ["ip"] },
      ],
    }),
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(async () => {
    agent.destroy();
    await h.close();
  });
  const incoming = "for=198.51.100.7;proto=https";
  const noProto = "for=198.51.100.7";
  const steps = [
    { path: "/trusted/1", host: "a.example", trusted: true, proto: "https", forwarded: incoming },
    { path: "/open/2", host: "a.example", trusted: false, proto: "https", forwarded: incoming },
    { path: "/trusted/3", host: "b.example:8443", trusted: true, proto: "https", forwarded: incoming },
    { path: "/open/4", host: "b.example:8443", trusted: false, proto: "https", forwarded: incoming },
    { path: "/open/5", host: "a.example", trusted: false, proto: "https", forwarded: incoming },
    { path: "/trusted/6", host: "a.example", trusted: true, proto: "https", forwarded: incoming },
    { path: "/trusted/7", host: "a.example", trusted: true, proto: undefined, forwarded: noProto },
    { path: "/trusted/8", host: "a.example", trusted: true, proto: undefined, forwarded: incoming },
    { path: "/trusted/9", host: "a.example", trusted: true, proto: "https", forwarded: noProto },
  ];
  for (const s of steps) {
    const headers: Record<string, string> = {
      host: s.host,
      forwarded: s.forwarded,
      "x-forwarded-for": "198.51.100.7",
      "x-forwarded-host": "front.example",
    };
    if (s.proto !== undefined) headers["x-forwarded-proto"] = s.proto;
    const r = await send(h.port, { path: s.path, agent, headers });
    assert.equal(r.status, 200, s.path);
    const seen = r.json().headers as Record<string, string>;
    const quotedHost = s.host.includes(":") ? `"${s.host}"` : s.host;
    // This hop's element names the scheme the member is told in X-Forwarded-Proto: a trusted
    // proxy's X-Forwarded-Proto, else its Forwarded proto=, else this connection's (plain HTTP).
    const told = s.trusted && (s.proto !== undefined || s.forwarded === incoming) ? "https" : "http";
    const element = `for=127.0.0.1;host=${quotedHost};proto=${told}`;
    if (s.trusted) {
      // From a trusted proxy: its headers stay, this hop is appended.
      assert.equal(seen.forwarded, `${s.forwarded}, ${element}`, s.path);
      assert.equal(seen["x-forwarded-proto"], told, s.path);
      assert.equal(seen["x-forwarded-host"], "front.example", s.path);
    } else {
      // From an untrusted client: replaced by what this hop knows.
      assert.equal(seen.forwarded, element, s.path);
      assert.equal(seen["x-forwarded-proto"], "http", s.path);
      assert.equal(seen["x-forwarded-host"], s.host, s.path);
    }
    assert.equal(seen["x-forwarded-for"], "198.51.100.7, 127.0.0.1", s.path);
  }
  // Every request above came over one client connection.
  const sockets = Object.values(agent.freeSockets).flat().length + Object.values(agent.sockets).flat().length;
  assert.equal(sockets, 1);
});
