// Unit checks of the fleet wiring's pure parts: the application-message codec (strict: every
// malformed shape is a reason, never a throw), cluster settings resolution (flags and env over
// the file, the implicit one-member cluster), and the SetBreaker override rule.

import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { test } from "node:test";
import { configSchema, type ShardgateConfig } from "../../config/file/schema.js";
import { encodeCommand, validateCommand } from "../../config/state/commands.js";
import {
  decodeAppMessage,
  encodeJoin,
  encodeOutcomes,
  MAX_BATCH_ENTRIES,
} from "../../proxy/cluster/app-messages.js";
import { resolveClusterSettings } from "../../proxy/cluster/cluster-settings.js";
import { seededRandom } from "../support/prng.js";

const SEED = 0xa99;

const entry = {
  pool: "p",
  member: "m1",
  success: 3,
  failure: 2,
  consecutive: 1,
  maxConsecutive: 2,
  connectErrors: 1,
  resets: 0,
  timeouts: 1,
};

test("app messages: outcomes and joins round-trip; malformed ones are reasons", () => {
  const ok = decodeAppMessage(encodeOutcomes({ entries: [entry] }));
  assert.deepEqual(ok, { ok: true, message: { kind: "outcomes", batch: { entries: [entry] } } });
  const join = decodeAppMessage(encodeJoin("d", "127.0.0.1:7004"));
  assert.deepEqual(join, { ok: true, message: { kind: "join", id: "d", address: "127.0.0.1:7004" } });
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const bad: unknown[] = [
    null,
    [],
    { v: 2, kind: "outcomes", entries: [] },
    { v: 1, kind: "gossip" },
    { v: 1, kind: "outcomes", entries: {} },
    { v: 1, kind: "outcomes", entries: [], extra: 1 },
    { v: 1, kind: "outcomes", entries: [{ ...entry, success: -1 }] },
    { v: 1, kind: "outcomes", entries: [{ ...entry, success: 1.5 }] },
    { v: 1, kind: "outcomes", entries: [{ ...entry, pool: "" }] },
    { v: 1, kind: "outcomes", entries: [{ ...entry, evil: true }] },
    { v: 1, kind: "outcomes", entries: [{ ...entry, connectErrors: 9 }] },
    { v: 1, kind: "join", id: "d", address: "not an address" },
    { v: 1, kind: "join", id: "", address: "127.0.0.1:1" },
  ];
  for (const b of bad) {
    const r = decodeAppMessage(enc(b));
    assert.equal(r.ok, false, JSON.stringify(b));
  }
  assert.equal(decodeAppMessage(new Uint8Array([0xff, 0xfe])).ok, false);
  const text = (s: string) => decodeAppMessage(new TextEncoder().encode(s));
  // JSON.parse makes "__proto__" an own key: it is an unknown field, not a prototype.
  const proto = text(
    `{"v":1,"kind":"outcomes","entries":[{"__proto__":{"x":1},${JSON.stringify(entry).slice(1)}]}`,
  );
  assert.deepEqual(proto, { ok: false, reason: "unknown field __proto__" });
  const big = { v: 1, kind: "outcomes", entries: Array.from({ length: MAX_BATCH_ENTRIES + 1 }, () => entry) };
  assert.deepEqual(decodeAppMessage(enc(big)), { ok: false, reason: "too many entries" });
  assert.equal(
    decodeAppMessage(enc({ v: 1, kind: "outcomes", entries: [{ ...entry, maxConsecutive: 0 }] })).ok,
    false,
  );
  // Random bytes never throw (seeded).
  const rand = seededRandom(SEED);
  for (let i = 0; i < 300; i++) {
    const n = Math.floor(rand() * 64);
    const bytes = new Uint8Array(n);
    for (let k = 0; k < n; k++) bytes[k] = Math.floor(rand() * 256);
    assert.equal(decodeAppMessage(bytes).ok, false, `seed ${SEED} case ${i}`);
  }
});

const BASE = { pools: { p: { members: [] } }, routes: [{ pool: "p", key: ["header:x"] }] };
function cfg(extra: object): ShardgateConfig {
  return configSchema.parse({ ...BASE, ...extra });
}

test("cluster settings: no cluster section = one voter in a temporary dir; --data-dir makes it durable", () => {
  const r = resolveClusterSettings(cfg({}), {}, {});
  assert.ok(r.ok);
  const s = r.settings;
  assert.equal(s.id, "local");
  assert.deepEqual(s.voters, ["local"]);
  assert.equal(s.ephemeral, true);
  assert.ok(existsSync(s.dataDir));
  rmSync(s.dataDir, { recursive: true, force: true });
  const d = resolveClusterSettings(cfg({}), { nodeId: "n1" }, { SHARDGATE_DATA_DIR: "/tmp/sg-x" });
  assert.ok(d.ok);
  assert.equal(d.settings.ephemeral, false);
  assert.equal(d.settings.dataDir, "/tmp/sg-x");
  assert.equal(d.settings.id, "n1");
});

test("cluster settings: flags over env over file; learners = peers beyond voters; secret rules", () => {
  const cluster = {
    id: "a",
    secret: "0123456789abcdef0123",
    dataDir: "/srv/a",
    peers: [
      { id: "a", address: "127.0.0.1:7001" },
      { id: "b", address: "127.0.0.1:7002" },
      { id: "c", address: "127.0.0.1:7003" },
      { id: "d", address: "127.0.0.1:7004" },
    ],
    voters: ["a", "b", "c"],
  };
  const env = { SHARDGATE_NODE_ID: "b", SHARDGATE_DATA_DIR: "/srv/env" };
  const r = resolveClusterSettings(cfg({ cluster }), { nodeId: "d", dataDir: "/srv/flag" }, env);
  assert.ok(r.ok, r.ok ? "" : r.message);
  assert.equal(r.settings.id, "d");
  assert.equal(r.settings.dataDir, "/srv/flag");
  assert.deepEqual(r.settings.listen, { host: "127.0.0.1", port: 7004 }, "listen follows the overridden id");
  assert.deepEqual(r.settings.learners, ["d"]);
  const e = resolveClusterSettings(cfg({ cluster }), {}, env);
  assert.ok(e.ok);
  assert.equal(e.settings.id, "b");
  assert.equal(e.settings.dataDir, "/srv/env");
  const unknown = resolveClusterSettings(cfg({ cluster }), { nodeId: "zz" }, {});
  assert.equal(unknown.ok, false);
  // An Object.prototype key is no peer either: a message, not a throw further on.
  const proto = resolveClusterSettings(cfg({ cluster }), { nodeId: "constructor" }, {});
  assert.equal(proto.ok, false);
  assert.match(proto.ok ? "" : proto.message, /no entry for this node's id "constructor"/);
  const weak = resolveClusterSettings(cfg({ cluster: { ...cluster, secret: "short" } }), {}, {});
  assert.equal(weak.ok, false);
  assert.match(weak.ok ? "" : weak.message, /cluster\.secret/);
  const faults = resolveClusterSettings(cfg({ cluster }), {}, { SHARDGATE_FAULT_INJECTION: "1" });
  assert.ok(faults.ok && faults.settings.faultInjection);
});

test("SetBreaker: override defaults to auto and must match a pinned state", () => {
  const base = { v: 1, type: "SetBreaker", pool: "p", member: "m", since: 1 } as const;
  const auto = validateCommand(encodeCommand({ ...base, state: "closed" }));
  assert.ok(auto.ok && auto.command.type === "SetBreaker" && auto.command.override === "auto");
  assert.ok(validateCommand(encodeCommand({ ...base, state: "closed", override: "closed" })).ok);
  assert.ok(validateCommand(encodeCommand({ ...base, state: "open", until: 5, override: "open" })).ok);
  const mismatch = validateCommand(encodeCommand({ ...base, state: "closed", override: "open" }));
  assert.equal(mismatch.ok, false);
  assert.equal(
    validateCommand(encodeCommand({ ...base, state: "closed", override: "maybe" as never })).ok,
    false,
  );
});
