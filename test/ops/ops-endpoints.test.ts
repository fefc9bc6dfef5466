// The operations endpoints of a real shardgate's admin API on bad input: every refusal is a
// coded JSON error (wrong method, no token, malformed body, bad ids/addresses, unknown peers,
// unknown pools), the process keeps serving, and the read endpoints answer what the
// dashboard needs. A single instance is its own one-voter cluster, so it is the leader.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const TOKEN = "ops-endpoints-token";

describe("operations endpoints: coded errors and read answers", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;

  const call = async (method: string, path: string, body?: string, token: string | null = TOKEN) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${sg.adminUrl}${path}`, { method, headers, body });
    const text = await r.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      assert.fail(`${method} ${path}: not JSON: ${text.slice(0, 200)}`);
    }
    return { status: r.status, json };
  };

  before(async () => {
    ups = await startUpstreams(2, "oe");
    sg = await startShardgate(
      poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
    );
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("bad requests to the membership endpoints get coded errors", async () => {
    const cases: Array<[string, string, string | undefined, string | null, number, string]> = [
      ["GET", "/admin/cluster/promote", undefined, TOKEN, 405, "method_not_allowed"],
      ["POST", "/admin/cluster/promote", '{"id":"x"}', null, 401, "unauthorized"],
      ["POST", "/admin/cluster/promote", '{"id":"x"}', "wrong", 401, "unauthorized"],
      ["POST", "/admin/cluster/promote", "{not json", TOKEN, 400, "bad_request"],
      ["POST", "/admin/cluster/promote", "[]", TOKEN, 400, "bad_request"],
      ["POST", "/admin/cluster/promote", '{"id":"../etc"}', TOKEN, 400, "bad_request"],
      ["POST", "/admin/cluster/promote", '{"id":"ghost"}', TOKEN, 409, "not_learner"],
      ["POST", "/admin/cluster/remove", '{"id":"ghost"}', TOKEN, 404, "unknown_peer"],
      ["POST", "/admin/cluster/transfer", '{"id":"ghost"}', TOKEN, 409, "not_voter"],
      ["POST", "/admin/cluster/add-learner", '{"id":"x"}', TOKEN, 400, "bad_request"],
      ["POST", "/admin/cluster/add-learner", '{"id":"x","address":"no port"}', TOKEN, 400, "bad_request"],
      [
        "POST",
        "/admin/cluster/add-learner",
        `{"id":"x","address":"127.0.0.1:1","pad":"${"a".repeat(70_000)}"}`,
        TOKEN,
        413,
        "body_too_large",
      ],
      ["GET", "/admin/ring", undefined, null, 400, "missing_parameter"],
      ["GET", "/admin/ring?pool=nope", undefined, null, 404, "unknown_pool"],
      ["POST", "/admin/dashboard", undefined, TOKEN, 405, "method_not_allowed"],
      ["POST", "/admin/snapshot", undefined, TOKEN, 405, "method_not_allowed"],
    ];
    for (const [method, path, body, token, status, code] of cases) {
      const r = await call(method, path, body, token);
      assert.equal(
        r.status,
        status,
        `${method} ${path} ${body?.slice(0, 40) ?? ""}: ${JSON.stringify(r.json)}`,
      );
      assert.equal(r.json.error, code, `${method} ${path}`);
      assert.equal(typeof r.json.message, "string");
    }
    // The only voter cannot be removed.
    const self = await call("GET", "/admin/cluster/peers");
    const id = (self.json.id as string) ?? "";
    const last = await call("POST", "/admin/cluster/remove", JSON.stringify({ id }));
    assert.equal(last.status, 409);
    assert.equal(last.json.error, "last_voter");
    const health = await fetch(`${sg.adminUrl}/healthz`);
    assert.equal(health.status, 200, "still serving");
  });

  test("the read endpoints answer what the dashboard and ctl need", async () => {
    const peers = await call("GET", "/admin/cluster/peers");
    assert.equal(peers.status, 200);
    assert.equal(peers.json.role, "leader");
    assert.equal((peers.json.peers as Array<{ self: boolean }>).filter((p) => p.self).length, 1);
    const dash = await call("GET", "/admin/dashboard");
    assert.equal(dash.status, 200);
    for (const k of ["at", "state", "members", "changes", "fleet"])
      assert.ok(k in dash.json, `dashboard has ${k}`);
    const fleet = dash.json.fleet as Array<{ self?: boolean; role?: string }>;
    assert.equal(fleet.length, 1);
    assert.equal(fleet[0].role, "leader");
    const changes = dash.json.changes as Array<{ cause: string; command: string }>;
    assert.ok(
      changes.some((c) => c.command === "SetRouting" && c.cause === "reload"),
      JSON.stringify(changes),
    );
    const ring = await call("GET", "/admin/ring?pool=users");
    assert.equal(ring.status, 200);
    assert.equal((ring.json.members as unknown[]).length, 2);
    const ui = await fetch(`${sg.adminUrl}/ui`);
    assert.equal(ui.status, 200);
    assert.match(ui.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const html = await ui.text();
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no outside resource referenced");
  });
});
