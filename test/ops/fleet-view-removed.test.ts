// The fleet view remembers the instance id each listed admin URL last answered with, to name
// an instance that went down. A URL that a reload removed from `admin.fleet` must take its
// entry with it: before, `lastId` kept one entry per URL ever listed, and a URL listed again
// later (another instance at that address, down) was named with the id of the instance that
// answered there before the reload. FleetView with a real neighbour on loopback.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import type { FleetInstanceView } from "../../proxy/admin/ops-types.js";
import type { AdminStateView } from "../../proxy/admin/types.js";
import { FleetView } from "../../proxy/app/fleet-view.js";
import { eventually } from "../support/wait.js";

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

test("an admin URL removed from the fleet list forgets the id it answered with", async () => {
  const neighbour = createServer((req, res) => {
    if (req.url === "/admin/state") res.end(JSON.stringify({ raft: { id: "n1", role: "follower" } }));
    else res.writeHead(404).end();
  });
  servers.push(neighbour);
  await new Promise<void>((r) => neighbour.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(neighbour.address() as AddressInfo).port}`;
  let listed: string[] = [url];
  const own = { raft: { id: "self", role: "leader" } } as unknown as AdminStateView;
  const fleet = new FleetView(
    () => listed,
    () => ({ state: own, peers: undefined }),
  );
  const entry = (v: FleetInstanceView[]) => v.find((e) => e.admin === url);

  const first = entry(await fleet.read());
  assert.equal(first?.reachable, true);
  assert.equal(first?.id, "n1");

  // Reload: the URL is no longer listed (read until the cached view is rebuilt).
  listed = [];
  await eventually("the view without the removed URL", async () =>
    entry(await fleet.read()) === undefined ? true : undefined,
  );
  // The instance there goes away; the URL is listed again later: nothing names it "n1".
  servers.pop();
  neighbour.closeAllConnections();
  await new Promise((r) => neighbour.close(r));
  listed = [url];
  const again = await eventually("the view with the URL listed again", async () => entry(await fleet.read()));
  assert.equal(again.reachable, false);
  assert.equal(
    again.id,
    undefined,
    "the re-listed URL was named with the id of the instance before the reload",
  );
});
