// From outside, a real shardgate watching a Consul (the double): a Service.ID that cannot be
// a member id (here 300 characters with a newline, an ESC and a bidi override) is skipped
// with a warning whose `msg` quotes the id (JSON-escaped) and cuts it at 128 characters with
// "...(N more)": a dependency's value can neither forge a log line nor flood one.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ConsulDouble } from "../support/consul-double.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

after(stopAll);

test("a consul member skipped for a hostile Service.ID: quoted and cut in the warning", async (t) => {
  const consul = await ConsulDouble.create({ seed: 11 });
  t.after(() => consul.close());
  const ups = await startUpstreams(1, "cq");
  t.after(() => closeAll(ups));
  const hostile = `evil\n{"level":50,"msg":"forged"}\u001b[2J\u202e${"x".repeat(260)}`;
  for (const [id, port] of [
    [ups[0].id, ups[0].port],
    [hostile, ups[0].port],
  ] as const) {
    const res = await fetch(`http://${consul.address}/v1/agent/service/register`, {
      method: "PUT",
      body: JSON.stringify({
        ID: id,
        Name: "api",
        Address: "127.0.0.1",
        Port: port,
        Check: { CheckID: `c-${id.length}`, TTL: "1h", Status: "passing" },
      }),
    });
    assert.equal(res.status, 200, await res.text());
  }
  const sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info, accessLog: false }
discovery:
  consul: { address: "http://${consul.address}", wait: 5s }
pools:
  api:
    discovery: { consul: { service: api } }
routes:
  - pool: api
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const line = await sg.proc.waitForLine(
    "the consul member skipped warning",
    (l) => typeof l.msg === "string" && l.msg.startsWith("consul member skipped"),
    60_000,
  );
  const msg = String(line.msg);
  const unsafe = [...msg].filter((c) => {
    const n = c.codePointAt(0) ?? 0;
    return n < 0x20 || (n >= 0x7f && n <= 0x9f) || (n >= 0x202a && n <= 0x202e);
  });
  assert.deepEqual(unsafe, [], msg);
  assert.ok(!msg.includes("x".repeat(129)), `the id is cut: ${msg}`);
  assert.match(msg, new RegExp(`\\.\\.\\.\\(${hostile.length - 128} more\\): `), msg);
  assert.ok(
    msg.startsWith(
      `consul member skipped: ${JSON.stringify(hostile.slice(0, 128)).replace("\\u001b[2J\u202e", "\\u001b[2J\\u202e")}`,
    ),
    msg,
  );
  assert.ok(msg.length < 400, `bounded: ${msg.length} characters`);
});
