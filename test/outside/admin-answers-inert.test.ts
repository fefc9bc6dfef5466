// From outside, against a real shardgate: strings a client controls come back in admin API
// answers (the key of /admin/route, a pool name in a 404; a path comes back percent-encoded).
// Each answer must be read as what it says it is: every admin answer carries
// `X-Content-Type-Options: nosniff` (JSON, the metrics text, the page, a refusal before the
// body), and the JSON holds no raw `<`, `>` or `&` (escaped as \u003c..., as Go's encoding/json
// writes them), so a reflected `<script>` cannot become markup, while it still parses back to
// exactly the value sent.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const TOKEN = "inert-answers-token";
const HOSTILE_KEY = `</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;\u2028`;

/** One raw HTTP/1.1 exchange (the target is sent as written, `<` and all); the whole answer text. */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let text = "";
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      text += c;
    });
    s.on("end", () => resolve(text));
    s.on("error", reject);
    s.setTimeout(20_000, () => s.destroy(new Error(`no answer to ${JSON.stringify(head.slice(0, 60))}`)));
    s.end(head);
  });
}

describe("admin answers are not sniffable and reflect no markup", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let adminPort: number;

  before(async () => {
    ups = await startUpstreams(2, "ia");
    sg = await startShardgate(
      poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
    );
    adminPort = Number(new URL(sg.adminUrl).port);
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("reflected values come back escaped, and parse back to what was sent", async () => {
    const cases: Array<{ path: string; status: number; field: "key" | "message"; holds: string }> = [
      {
        path: `/admin/route?pool=users&key=${encodeURIComponent(HOSTILE_KEY)}`,
        status: 200,
        field: "key",
        holds: HOSTILE_KEY,
      },
      {
        path: `/admin/route?pool=${encodeURIComponent("<b>x</b>")}&key=k`,
        status: 404,
        field: "message",
        holds: "<b>x</b>",
      },
      {
        path: `/admin/ring?pool=${encodeURIComponent("<svg onload=alert(3)>")}`,
        status: 404,
        field: "message",
        holds: "<svg onload=alert(3)>",
      },
    ];
    for (const c of cases) {
      const r = await fetch(`${sg.adminUrl}${c.path}`);
      const text = await r.text();
      assert.equal(r.status, c.status, `${c.path}: ${text}`);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff", c.path);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/, c.path);
      assert.doesNotMatch(text, /[<>&\u2028]/, `${c.path}: raw markup characters in ${text}`);
      const json = JSON.parse(text) as Record<string, string>;
      assert.ok(json[c.field].includes(c.holds), `${c.path}: ${c.field} ${json[c.field]} lost the value`);
    }
  });

  test("every kind of admin answer says nosniff", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const cases: Array<[string, string, Record<string, string>, number]> = [
      ["GET", "/healthz", {}, 200],
      ["GET", "/readyz", {}, 200],
      ["GET", "/metrics", {}, 200],
      ["GET", "/admin/state", {}, 200],
      ["GET", "/admin/dashboard", {}, 200],
      ["GET", "/admin/live", {}, 200],
      ["GET", "/admin/cluster/peers", {}, 200],
      ["GET", "/ui", {}, 200],
      ["POST", "/ui", {}, 405],
      ["POST", "/admin/reload", {}, 401],
      ["POST", "/admin/pools/users/members/nobody/drain", auth, 404],
    ];
    for (const [method, path, headers, status] of cases) {
      const r = await fetch(`${sg.adminUrl}${path}`, { method, headers });
      await r.arrayBuffer();
      assert.equal(r.status, status, `${method} ${path}`);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff", `${method} ${path}`);
    }
    // Refused before a byte of the body is read (Expect: 100-continue over admin.maxBodySize).
    const refused = await rawExchange(
      adminPort,
      `POST /admin/reload HTTP/1.1\r\nHost: a\r\nContent-Length: ${10 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
    );
    assert.match(refused, /^HTTP\/1\.1 413 /, refused);
    assert.match(refused, /\r\nx-content-type-options: nosniff\r\n/i, refused);
  });
});
