// Errors keep their identity between rooms: the replicated state rejects with a stable code,
// the code survives to the admin API, and the HTTP status comes from a table keyed by code,
// never from the message text (a message that reads like another error changes nothing).

import assert from "node:assert/strict";
import { test } from "node:test";
import { CodedError, codeOf, errorText, errorWithCode } from "../../config/coded-error.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import { ControllerError } from "../../health/controller/deps.js";
import { proposalError } from "../../proxy/app/errors.js";
import { CommandRejected } from "../../proxy/cluster/cluster-node.js";
import { enc, ROUTING_YAML, routingFrom, setRouting } from "./cluster-fixtures.js";

function seeded(): ClusterState {
  const s = new ClusterState();
  const c = s.apply(1, setRouting(routingFrom(ROUTING_YAML)));
  assert.ok(c.applied, c.error);
  return s;
}

test("each kind of rejected entry carries its own code", () => {
  const s = seeded();
  const cases: Array<[Uint8Array, string]> = [
    [enc({ v: 1, type: "Drain", pool: "nope", member: "u1" }), "unknown_pool"],
    [enc({ v: 1, type: "Drain", pool: "users", member: "ghost" }), "unknown_member"],
    [enc({ v: 1, type: "SetMembers", pool: "users", source: "consul", members: [] }), "no_discovery"],
    [
      enc({
        v: 1,
        type: "SetMembers",
        pool: "search",
        source: "consul",
        members: [{ id: "s-static", address: { host: "127.0.0.1", port: 9300 }, weight: 1 }],
      }),
      "member_source_conflict",
    ],
    [
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { algorithm: "nope" } }),
      // The command decoder already checks settings against the schema.
      "invalid_command",
    ],
    [new TextEncoder().encode("{not json"), "invalid_command"],
  ];
  let index = 2;
  for (const [bytes, code] of cases) {
    const change = s.apply(index++, bytes);
    assert.equal(change.applied, false, code);
    assert.equal(change.code, code, `${code}: ${change.error}`);
  }
  assert.equal(s.apply(1, setRouting(routingFrom(ROUTING_YAML))).code, "stale_index");
  assert.equal(seeded().apply(2, setRouting(routingFrom(ROUTING_YAML))).code, undefined);
});

test("the admin status is chosen by code, whatever the message says", () => {
  const table: Array<[unknown, number, string]> = [
    [new CommandRejected("unknown_pool", "x"), 404, "unknown_pool"],
    [new CommandRejected("unknown_member", "x"), 404, "unknown_member"],
    [new CommandRejected("no_discovery", "unknown pool"), 400, "no_discovery"],
    [new CommandRejected("invalid_settings", "has no member"), 400, "invalid_settings"],
    [new CommandRejected("internal", "breaker disabled"), 400, "rejected"],
    [new ControllerError("HEALTH_UNKNOWN_POOL", "x"), 404, "unknown_pool"],
    [new ControllerError("HEALTH_UNKNOWN_MEMBER", "x"), 404, "unknown_member"],
    [new ControllerError("HEALTH_BREAKER_DISABLED", "unknown pool"), 409, "breaker_disabled"],
    [new ControllerError("HEALTH_NOT_RUNNING", "breaker disabled"), 503, "not_committed"],
    [new CodedError("OVERLOADED", "unknown pool"), 503, "overloaded"],
    [new Error('unknown pool "users"'), 503, "not_committed"],
    [new CodedError("constructor", "x"), 503, "not_committed"],
    ["a string", 503, "not_committed"],
  ];
  for (const [err, status, error] of table) {
    const a = proposalError(err);
    assert.equal(a.status, status, `${codeOf(err)}: ${errorText(err)}`);
    assert.equal(a.error, error, `${codeOf(err)}: ${errorText(err)}`);
    assert.equal(a.retryAfterS, status === 503 ? 1 : undefined);
  }
});

test("every coded error is an Error with its class name and code", () => {
  const e = new CommandRejected("table_limit", "too many members");
  assert.ok(e instanceof CodedError && e instanceof Error);
  assert.equal(e.name, "CommandRejected");
  assert.equal(new ControllerError("HEALTH_NOT_RUNNING", "x").name, "ControllerError");
  assert.equal(codeOf(e), "table_limit");
  assert.equal(codeOf(null), undefined);
  assert.equal(
    errorWithCode(Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" })),
    "connect failed (ECONNREFUSED)",
  );
  assert.equal(
    errorWithCode(Object.assign(new Error("ECONNREFUSED x\ny"), { code: "ECONNREFUSED" }), true),
    "ECONNREFUSED x",
  );
});
