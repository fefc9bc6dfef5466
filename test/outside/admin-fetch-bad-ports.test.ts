// An admin port on one of the ports the WHATWG fetch standard calls "bad" (6000, 6665-6669,
// 10080, ...: the browsers' list). shardgate listened and answered curl there, but everything
// of its own that asks an admin port used fetch(), which refuses those ports without
// connecting: `shardgate ctl --admin http://127.0.0.1:6000 status` exited 1 with "cannot reach
// the admin API at http://127.0.0.1:6000: bad port", the dashboard's fleet view showed such a
// neighbour `unreachable` ("fetch failed"), and `demo --admin-port 6665` gave up after 30 s
// saying the fleet had not agreed on a leader. They now use undici's request(), which has no
// such list. Real `shardgate start` and `ctl` processes on 127.0.0.1.

import assert from "node:assert/strict";
import { get } from "node:http";
import { createServer } from "node:net";
import { test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import { fetchJson, startShardgate } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

// Ports on fetch's bad-port list that need no privilege; the first one free here is used.
const BAD_PORTS = [6000, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080, 6566];

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** GET over node:http (the test's own fetch() would refuse the port too): status and parsed body. */
function getJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 5_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within 5000 ms`)));
    req.on("error", reject);
  });
}

async function freeBadPort(): Promise<number> {
  for (const port of BAD_PORTS) if (await isFree(port)) return port;
  throw new Error(`none of fetch's bad ports ${BAD_PORTS.join(", ")} is free on 127.0.0.1`);
}

test("ctl and the fleet view reach an admin port on a port fetch() calls bad", async (t) => {
  const port = await freeBadPort();
  const token = "bad-port-admin-token-0123";
  const onBad = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:${port} }\nadmin: { token: ${token} }\n${ONE_MEMBER_POOL}`,
    { waitReady: false },
  );
  t.after(() => onBad.stop());
  assert.equal(onBad.adminUrl, `http://127.0.0.1:${port}`);
  await eventually("the instance on a bad port ready", async () =>
    (await getJson(`${onBad.adminUrl}/readyz`)).status === 200 ? true : undefined,
  );

  await t.test("ctl status, ready and a write answer", async () => {
    for (const args of [["status"], ["ready"], ["--json", "state"]]) {
      const r = await runCtl(["--admin", onBad.adminUrl, ...args]);
      assert.equal(r.code, 0, `ctl ${args.join(" ")}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stderr, /bad port/);
    }
    const drain = await runCtl(["--admin", onBad.adminUrl, "--token", token, "drain", "p", "m1"]);
    assert.equal(drain.code, 0, `ctl drain: exit ${drain.code}\n${drain.stdout}${drain.stderr}`);
    const state = (await getJson(`${onBad.adminUrl}/admin/state`)).body as {
      pools: { p: { members: Array<{ id: string; draining: boolean }> } };
    };
    const m1 = state.pools.p.members.find((m) => m.id === "m1");
    assert.equal(m1?.draining, true, JSON.stringify(m1));
  });

  await t.test("the fleet view of a neighbour lists it reachable", async (st) => {
    const viewer = await startShardgate(
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\nadmin: { fleet: ["${onBad.adminUrl}"] }\n${ONE_MEMBER_POOL}`,
      // Its own id: the view leaves out a neighbour that answers with the viewer's.
      { args: ["--node-id", "viewer"] },
    );
    st.after(() => viewer.stop());
    const fleet = await fetchJson(`${viewer.adminUrl}/admin/fleet`);
    assert.equal(fleet.status, 200);
    const { instances } = fleet.body as { instances: Array<{ admin: string; reachable: boolean }> };
    const neighbour = instances.find((i) => i.admin === onBad.adminUrl);
    assert.ok(neighbour !== undefined, JSON.stringify(fleet.body));
    assert.equal(neighbour.reachable, true, JSON.stringify(neighbour));
  });

  await t.test("ctl still names a closed port's error", async () => {
    // The same client on a port nobody listens on: the connection's own code, as before.
    const closed = await freeBadPort();
    const r = await runCtl(["--admin", `http://127.0.0.1:${closed}`, "status"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`),
    );
  });
});
