// The fleet view with a neighbour named by a host name that resolves to two addresses, of which
// the neighbour's admin port listens on the second only (a name with A and AAAA records, the
// admin port on one family). The view used to connect by name, and the connection tried each
// address in turn (Node's autoSelectFamily over the bounded lookup's whole answer). Since it
// asks by address (so the neighbour's Host check answers), it took the lookup's first address
// only: the neighbour was shown unreachable (ECONNREFUSED) while it answered on the other one.
// `*.localhost` names stand in for such a name on loopback: the bounded lookup answers them with
// 127.0.0.1 then ::1 (RFC 6761, never asked of DNS). Real shardgate processes.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const TOKEN = "fleet-view-two-addresses-token";
const upstreams: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

interface Instance {
  admin: string;
  reachable: boolean;
  self?: boolean;
  id?: string;
  error?: string;
}

test("a neighbour answering on its name's second address is shown reachable", {
  timeout: 120_000,
}, async () => {
  upstreams.push(...(await startUpstreams(1, "ta")));
  const members = upstreams.map((u) => ({ id: u.id, port: u.port }));
  const v6only = poolConfig({ members, accessLog: false }).replace("admin: 127.0.0.1:0", 'admin: "[::1]:0"');
  assert.match(v6only, /admin: "\[::1\]:0"/, "the neighbour's admin port is on ::1 only");
  const neighbour = await startShardgate(v6only, { args: ["--node-id", "neighbour"] });
  const port = new URL(neighbour.adminUrl).port;
  const byName = `http://peer.localhost:${port}`;
  const sg = await startShardgate(
    poolConfig({ members, token: TOKEN, accessLog: false }).replace(
      `  token: "${TOKEN}"\n`,
      `  token: "${TOKEN}"\n  fleet: ["${byName}"]\n`,
    ),
  );
  let last = "";
  // Bounded: each read within 15 s, the whole wait 30 s (the view caches its answer 500 ms).
  const seen = await eventually(
    "the neighbour reachable by its name",
    async () => {
      const r = await fetch(`${sg.adminUrl}/admin/fleet`, { signal: AbortSignal.timeout(15_000) });
      last = await r.text();
      assert.equal(r.status, 200, last);
      const named = (JSON.parse(last) as { instances: Instance[] }).instances.find((v) => v.admin === byName);
      return named?.reachable === true ? named : undefined;
    },
    30_000,
    300,
  ).catch((err: unknown) => assert.fail(`${String(err)}; last view: ${last}`));
  assert.equal(seen.id, "neighbour", last);
});
