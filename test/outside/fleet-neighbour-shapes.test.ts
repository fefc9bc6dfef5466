// The dashboard's fleet view takes each neighbour in `admin.fleet` as it answers, and while
// this instance follows, the replication lags of every row come from whichever neighbour says
// it leads. A neighbour of another version, a wrong URL in the list or a hostile host can answer
// any JSON: a leader whose `peers` was not a list (or held a null) threw out of the whole read,
// so /admin/dashboard failed and the page stopped updating, for every row, for as long as
// that neighbour answered. Now such an answer gives no lags and the rest is shown; an answer
// that is not a JSON object marks that neighbour unreachable and says so. Real neighbours on
// loopback sockets; the view is driven as the admin API drives it.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import type { PeersView } from "../../proxy/admin/ops-types.js";
import type { AdminStateView } from "../../proxy/admin/types.js";
import { FleetView } from "../../proxy/app/fleet-view.js";

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** A neighbour answering `state` at /admin/state and `peers` at /admin/cluster/peers, as raw JSON text. */
async function neighbour(state: string, peers: string): Promise<string> {
  const s = createServer((req, res) => {
    const body = req.url === "/admin/state" ? state : req.url === "/admin/cluster/peers" ? peers : null;
    res.writeHead(body === null ? 404 : 200, { "content-type": "application/json" });
    res.end(body ?? "{}");
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const raft = (id: string, role: string) => ({
  id,
  role,
  term: 3,
  leader: "lead",
  commitIndex: 9,
  appliedIndex: 9,
});
const stateOf = (id: string, role: string) =>
  JSON.stringify({ ringVersion: 9, pools: {}, raft: raft(id, role) });

const SELF: { state: AdminStateView; peers: PeersView } = {
  state: { ringVersion: 9, pools: {}, raft: raft("me", "follower") } as AdminStateView,
  peers: { ...raft("me", "follower"), lastIndex: 9, clusterId: null, peers: [] } as PeersView,
};

for (const [name, peers] of [
  ["not a list", '{"role":"leader","peers":"x"}'],
  ["a list holding a null and a number", '{"role":"leader","peers":[null,5,{"id":"me","lag":2}]}'],
]) {
  test(`a neighbour that leads with peers ${name}: the view is answered`, async () => {
    const urls = [await neighbour(stateOf("lead", "leader"), peers), await neighbour("null", "null")];
    const view = new FleetView(
      () => urls,
      () => SELF,
    );
    const rows = await view.read();
    assert.deepEqual(
      rows.map((r) => [r.admin === "self" ? "self" : urls.indexOf(r.admin), r.reachable]),
      [
        ["self", true],
        [0, true],
        [1, false],
      ],
    );
    assert.equal(rows[1].role, "leader");
    assert.match(String(rows[2].error), /not a JSON object/);
  });
}
