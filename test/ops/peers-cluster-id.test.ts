// The fleet's cluster id in the peers view: GET /admin/cluster/peers and `shardgate ctl peers
// list` (text and --json) name the same id /admin/state shows as raft.clusterId. They used to
// leave it out, so an operator comparing two fleets' peer lists could not tell them apart.
// A real process: a lone instance is its own one-voter cluster and fixes its id on its own.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { CONDITION_DEADLINE_MS, eventually } from "../support/wait.js";

describe("cluster id in the peers view", () => {
  const fx = echoBehindProxy({ prefix: "pc" });

  test("/admin/cluster/peers and ctl peers list show /admin/state's raft.clusterId", async () => {
    const id = await eventually(
      "the lone instance fixed its cluster id",
      async () => {
        const s = (await (await fetch(`${fx.sg.adminUrl}/admin/state`)).json()) as {
          raft?: { clusterId?: string | null };
        };
        const v = s.raft?.clusterId;
        return typeof v === "string" && v !== "" ? v : undefined;
      },
      CONDITION_DEADLINE_MS,
    );
    const r = await fetch(`${fx.sg.adminUrl}/admin/cluster/peers`);
    assert.equal(r.status, 200);
    const peers = (await r.json()) as { clusterId?: unknown };
    assert.equal(peers.clusterId, id, JSON.stringify(peers));

    const text = await runCtl(["--admin", fx.sg.adminUrl, "peers", "list"]);
    assert.equal(text.code, 0, text.stderr);
    const head = text.stdout.split("\n")[0];
    assert.ok(head.includes(`cluster id ${id}`), `first line names the cluster id: ${head}`);

    const json = await runCtl(["--admin", fx.sg.adminUrl, "--json", "peers", "list"]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { clusterId?: unknown }).clusterId, id, json.stdout);
  });
});
