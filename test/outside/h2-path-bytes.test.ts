// Tried from the outside: an HTTP/2 `:path` with a byte past ASCII (0x80-0xff: a raw UTF-8 `é`,
// the C1 CSI 0x9b). HTTP/1.1's parser refuses such a byte in the request-target (400
// bad_request, the connection closed); nghttp2 lets it through, Node reads it as latin1, and
// shardgate forwarded it to the member, which saw a target the HTTP/1.1 listener never lets by
// (and wrote it in the access log as a raw C1 control). Now 400 bad_request on the stream,
// counted, never forwarded, and the session goes on, as for the other targets the two
// listeners refuse alike (request-target.ts). Real shardgate process, real upstream, h2c.

import assert from "node:assert/strict";
import { test } from "node:test";
import { h2Request, h2Session } from "../support/h2-client.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { metricValue } from "../support/shardgate-process.js";

const gate = oneMemberGate();

async function badRequests(): Promise<number> {
  const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_downstream_client_errors_total", { code: "bad_request" }) ?? 0;
}

test("h2c: a :path byte past ASCII gets 400 bad_request on the stream, never forwarded", async (t) => {
  const session = await h2Session(t, gate.sg.httpUrl);
  const forwarded = gate.upstream.requests;
  const counted = await badRequests();
  // As latin1 (how Node writes and reads a header): the bytes c3 a9, 80, 9b, ff.
  const paths = ["/caf\u00c3\u00a9", "/a\u0080", "/a\u009b2J", "/\u00ff"];
  for (const path of paths) {
    const r = await h2Request(session, { path, headers: { "x-user-id": "k" } });
    assert.equal(r.status, 400, `${JSON.stringify(path)}: ${r.text.slice(0, 200)}`);
    assert.equal(r.json().error, "bad_request", r.text);
  }
  assert.equal(gate.upstream.requests, forwarded, "none forwarded");
  assert.equal(await badRequests(), counted + paths.length);
  // The same session goes on; the percent-encoded spelling is a plain target.
  const r = await h2Request(session, { path: "/caf%C3%A9", headers: { "x-user-id": "k" } });
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.equal(gate.upstream.requests, forwarded + 1);
});
