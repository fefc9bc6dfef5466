// Tried from the outside: an HTTP/2 request whose Host header names another origin than its
// :authority (RFC 9113 section 8.3.1: malformed). shardgate forwarded it with the Host, while
// anything reading :authority (the access log's view of the client, a server behind that logs
// it) saw the other: the split a Host beside a mismatched absolute-form target is on HTTP/1.1
// (which refuses absolute-form outright). Now 400 invalid_host on the stream, counted, never
// forwarded, and the session goes on. A Host naming the same origin, compared as RFC 3986
// section 6.2 normalizes (case, the scheme's default port), is forwarded as before. Real
// shardgate process, real upstream, an h2c session, loopback.

import assert from "node:assert/strict";
import { test } from "node:test";
import { h2Request, h2Session } from "../support/h2-client.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { metricValue } from "../support/shardgate-process.js";

const gate = oneMemberGate();

async function invalidHosts(): Promise<number> {
  const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_downstream_client_errors_total", { code: "invalid_host" }) ?? 0;
}

test("h2c: a Host that differs from :authority gets 400 invalid_host on the stream, never forwarded; a matching one is forwarded", async (t) => {
  const session = await h2Session(t, gate.sg.httpUrl);
  const forwarded = gate.upstream.requests;
  const counted = await invalidHosts();
  const differing: Array<[string, string]> = [
    ["a.example", "evil.example"],
    ["a.example:8080", "a.example"],
    ["a.example", "a.example:81"],
  ];
  for (const [authority, host] of differing) {
    const r = await h2Request(session, {
      path: "/mismatch",
      headers: { ":authority": authority, host, "x-user-id": "k" },
    });
    assert.equal(r.status, 400, `${authority} vs ${host}: ${r.text.slice(0, 200)}`);
    assert.equal(r.json().error, "invalid_host", r.text);
  }
  assert.equal(gate.upstream.requests, forwarded, "none forwarded");
  assert.equal(await invalidHosts(), counted + differing.length);
  // The same session goes on, and the same origin spelled otherwise is no mismatch.
  const same: Array<[string, string]> = [
    ["a.example", "a.example"],
    ["A.Example", "a.example"],
    ["a.example:80", "a.example"],
  ];
  for (const [authority, host] of same) {
    const r = await h2Request(session, {
      path: "/same",
      headers: { ":authority": authority, host, "x-user-id": "k" },
    });
    assert.equal(r.status, 200, `${authority} vs ${host}: ${r.text.slice(0, 200)}`);
  }
  assert.equal(gate.upstream.requests, forwarded + same.length);
});
