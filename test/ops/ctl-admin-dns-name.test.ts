// `shardgate ctl --admin http://NAME:PORT` with NAME a dotted DNS name the instance does not
// list. Since the admin Host check (proxy/admin/host-check.ts) such a call sent `Host: NAME:PORT`
// and got 421 host_not_allowed, on every command. ctl now resolves a plain-HTTP name itself and
// connects by address (proxy/ctl/admin-addresses.ts), trying each address in turn.
// A real shardgate and real ctl processes; ctl runs in a mount namespace of its own whose
// /etc/hosts maps `localtest.internal` first to 127.0.0.2 (where nothing listens on the admin
// port: ECONNREFUSED, so the next address is tried) and then to 127.0.0.1, the admin port.
// Every command of ctl's table is run through that name: a command added without a case here
// fails the coverage check.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { COMMANDS } from "../../proxy/ctl/commands.js";
import { type CtlRun, runShardgateUnder } from "../support/ctl-runner.js";
import { mountNamespaceUnavailable } from "../support/dns-double.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const TOKEN = "ctl-dns-name-token";
const NAME = "localtest.internal";

/** `shardgate ctl ARGS` with `hosts` bind-mounted over /etc/hosts in a mount namespace of its own. */
function runCtlWithHosts(hosts: string, args: readonly string[]): Promise<CtlRun> {
  const script = 'mount --bind "$0" /etc/hosts && exec "$@"';
  return runShardgateUnder(["unshare", "-m", "--", "sh", "-c", script, hosts], ["ctl", ...args], {
    SHARDGATE_ADMIN_TOKEN: TOKEN,
  });
}

const skip = mountNamespaceUnavailable();

describe("ctl --admin by a DNS name the instance does not list", { skip: skip ?? false }, () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let dir: string;
  let hosts: string;
  let admin: string;

  before(async () => {
    ups = await startUpstreams(2, "dn");
    sg = await startShardgate(
      poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
    );
    dir = mkdtempSync(join(tmpdir(), "sg-ctl-dns-"));
    hosts = join(dir, "hosts");
    writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.2 ${NAME}\n127.0.0.1 ${NAME}\n`);
    admin = `http://${NAME}:${new URL(sg.adminUrl).port}`;
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test("the instance itself refuses that name as Host (the premise)", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(sg.adminUrl);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: "/admin/state",
          agent: false,
          headers: { host: `${NAME}:${u.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(
      status,
      421,
      "the admin port answers the name without allowedHosts: the test proves nothing",
    );
  });

  test("every ctl command reaches the admin API through the name", async () => {
    const member = ups[0].id;
    const snap = join(dir, "snap.json");
    // [command, the exit code wanted, what stdout or stderr must show]
    const cases: Array<[string[], number, RegExp]> = [
      [["status"], 0, /^local\s+leader\s.*http:\/\/localtest\.internal:\d+$/m],
      [["members", "users"], 0, new RegExp(`^${member}\\s+127\\.0\\.0\\.1:\\d+\\s+yes`, "m")],
      [["route", "users", "k1"], 0, /^member\s+dn\d/m],
      [["route", "users", "k1", "k2", "k3"], 0, /^k3\s+dn\d/m],
      [["drain", "users", member], 0, new RegExp(`^users/${member}: draining \\(committed`, "m")],
      [["undrain", "users", member], 0, new RegExp(`^users/${member}: not draining \\(committed`, "m")],
      [["breaker", "users", member, "auto"], 0, /breaker closed \(override auto, committed/],
      [["state"], 0, new RegExp(`"${member}"`)],
      [["ready"], 0, /"ready": true/],
      [["reload"], 0, /^reloaded \(ring version \d+\)/m],
      [["snapshot", "save", snap], 0, /^saved the replicated state from local/m],
      [["peers", "list"], 0, /^local\s+voter\s+self/m],
      // A transfer to no voter: the API's own refusal, not the Host check's.
      [["leader", "transfer", "nobody"], 1, /refused \(not_voter\)/],
    ];
    const covered = new Set(cases.map(([c]) => c[0]));
    assert.deepEqual(
      Object.keys(COMMANDS).filter((c) => !covered.has(c)),
      [],
      "a ctl command without a case here",
    );
    for (const [cmd, code, shows] of cases) {
      const r = await runCtlWithHosts(hosts, ["--admin", admin, ...cmd]);
      const what = `ctl --admin ${admin} ${cmd.join(" ")}: exit ${r.code}\n${r.stdout}\n${r.stderr}`;
      assert.ok(!r.stderr.includes("host_not_allowed"), what);
      assert.ok(!r.stderr.includes("cannot reach"), what);
      assert.equal(r.code, code, what);
      assert.match(r.stdout + r.stderr, shows, what);
    }
    // The drain went through: the state shows it undone by undrain, so ask a drain again and read it.
    const d = await runCtlWithHosts(hosts, ["--admin", admin, "drain", "users", member]);
    assert.equal(d.code, 0, d.stderr);
    const state = (await (await fetch(`${sg.adminUrl}/admin/state`)).json()) as {
      pools: { users: { members: Array<{ id: string; draining: boolean }> } };
    };
    assert.equal(state.pools.users.members.find((m) => m.id === member)?.draining, true);
  });
});
