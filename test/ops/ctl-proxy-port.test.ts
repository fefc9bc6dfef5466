// `shardgate ctl --admin` given shardgate's proxy port instead of its admin port (8080 for
// 9901: the demo prints both). Before, the proxy forwarded the admin path to an upstream
// whose JSON ctl took for the admin API's: `drain` printed "not draining (committed, ring
// version undefined)" and exited 0, `state` and `ready` printed the upstream's echo with exit
// 0, and `status`, `members`, `route`, `peers list`, `reload` died of a TypeError stack trace.
// With the members down, the proxy's own 502 was reported as the admin API refusing the
// action ("refused (upstream_connect_failed)"). Every command now exits 1 with one sentence
// naming the address and the admin port to use. A real shardgate, real echo upstreams, real
// `ctl` processes.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const COMMANDS = [
  ["status"],
  ["state"],
  ["ready"],
  ["members", "users"],
  ["route", "users", "k1"],
  ["drain", "users", "m1"],
  ["undrain", "users", "m1"],
  ["breaker", "users", "m1", "open"],
  ["leader", "transfer", "local"],
  ["peers", "list"],
  ["peers", "promote", "x"],
  ["reload"],
];

let ups: EchoUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  ups = await startUpstreams(2, "m");
  sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: "t0ken-0123456789abcdef" }),
  );
});
after(async () => {
  await sg?.stop();
  await stopAll();
  await closeAll(ups);
});

async function assertRefusesProxyPort(cmd: string[]): Promise<void> {
  const r = await runCtl([...cmd, "--admin", sg.httpUrl], {
    SHARDGATE_ADMIN_TOKEN: "t0ken-0123456789abcdef",
  });
  const what = `ctl ${cmd.join(" ")} --admin ${sg.httpUrl}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 1, what);
  assert.equal(r.stdout, "", what);
  assert.ok(!/TypeError|\n\s+at /.test(r.stderr), `no stack trace: ${what}`);
  assert.ok(
    r.stderr.startsWith(`shardgate ctl: ${sg.httpUrl} is not a shardgate admin API: `),
    `names the address: ${what}`,
  );
  assert.match(r.stderr, /shardgate proxy port .*listen\.admin .*check --admin\n$/, what);
}

test("ctl against the proxy port, members up: every command exits 1 saying it is not the admin API", async () => {
  // The commands are independent (the proxy port changes nothing): their processes run side by
  // side, each a node start-up, as twelve in a row took 5.6 s on CI.
  await Promise.all(COMMANDS.map(assertRefusesProxyPort));
  // The admin port itself still works (the check does not refuse shardgate's own answers).
  const ok = await runCtl(["drain", "users", "m1", "--admin", sg.adminUrl], {
    SHARDGATE_ADMIN_TOKEN: "t0ken-0123456789abcdef",
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /users\/m1: draining \(committed, ring version \d+\)/);
  const st = await runCtl(["status", "--admin", sg.adminUrl]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /^INSTANCE/);
});

test("ctl against the proxy port, members down: the proxy's own error is not an admin refusal", async () => {
  await closeAll(ups);
  // Its answers are now the proxy's own 502/503 errors (with the request id), not an upstream's.
  await Promise.all(
    [["status"], ["drain", "users", "m2"], ["route", "users", "k1"], ["reload"]].map(assertRefusesProxyPort),
  );
});
