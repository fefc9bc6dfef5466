// Tests of the Consul API double's wire semantics. They run against consulTarget(): a real
// agent when CONSUL_HTTP_ADDR is set, else the double, so the double is held to what Consul
// actually does. Tests needing double-only controls skip on a real agent with a reason.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { agentClient, rawGet, rawPut, registerService, uniqueName } from "../support/consul/agent-ops.js";
import { suiteConsul } from "../support/consul/suite-consul.js";
import { consulTarget, needControls } from "../support/consul/target.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(20261125);
const random = seededRandom(SEED);
const seedMsg = `seed=${SEED}`;

interface Entry {
  Node: { Node: string; Address: string };
  Service: {
    ID: string;
    Service: string;
    Tags: string[];
    Address: string;
    Port: number;
    Weights: { Passing: number; Warning: number };
    Meta: Record<string, string>;
  };
  Checks: { CheckID: string; Status: string; Output: string; ServiceID: string }[];
}

function indexOf(r: { headers: http.IncomingHttpHeaders }): number {
  return Number(r.headers["x-consul-index"]);
}

describe("consul double (or real agent via CONSUL_HTTP_ADDR)", () => {
  const suite = suiteConsul(SEED);

  test("register applies Consul's defaults and the entry carries the node-level serfHealth check", async () => {
    const name = uniqueName("svc-defaults", random);
    await suite.register({ Name: name, Port: 8080, Check: { TTL: "30s" } });
    const r = await rawGet(suite.target, `/v1/health/service/${name}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(indexOf(r) >= 1, `X-Consul-Index must be >= 1, got ${r.headers["x-consul-index"]}`);
    assert.equal(r.headers["x-consul-knownleader"], "true");
    assert.ok(r.headers["x-consul-lastcontact"] !== undefined);
    assert.equal(r.headers["x-consul-effective-consistency"], "leader");
    const entries = r.json() as Entry[];
    assert.equal(entries.length, 1);
    const e = entries[0];
    assert.equal(e.Service.ID, name, "ID defaults to Name");
    assert.deepEqual(e.Service.Weights, { Passing: 1, Warning: 1 });
    assert.deepEqual(e.Service.Tags, []);
    assert.equal(e.Service.Address, "");
    assert.ok(e.Node.Address.length > 0);
    const serf = e.Checks.find((c) => c.CheckID === "serfHealth");
    assert.ok(serf, "node-level serfHealth check present");
    assert.equal(serf.ServiceID, "");
    const svcCheck = e.Checks.find((c) => c.CheckID === `service:${name}`);
    assert.ok(svcCheck, `CheckID defaults to service:<id>: ${JSON.stringify(e.Checks)}`);
    assert.equal(svcCheck.Status, "critical", "initial status defaults to critical");
  });

  test("several checks get service:<id>:<n> ids; Status sets the initial state", async () => {
    const name = uniqueName("svc-multi", random);
    await suite.register({
      Name: name,
      ID: `${name}-1`,
      Port: 1,
      Weights: { Passing: 7, Warning: 2 },
      Checks: [{ TTL: "30s", Status: "passing" }, { TTL: "30s" }],
    });
    const e = ((await rawGet(suite.target, `/v1/health/service/${name}`)).json() as Entry[])[0];
    assert.deepEqual(e.Service.Weights, { Passing: 7, Warning: 2 });
    const byId = new Map(e.Checks.map((c) => [c.CheckID, c.Status]));
    assert.equal(byId.get(`service:${name}-1:1`), "passing");
    assert.equal(byId.get(`service:${name}-1:2`), "critical");
  });

  test("an unknown service answers [] with an index >= 1", async () => {
    const r = await rawGet(suite.target, `/v1/health/service/${uniqueName("nothing", random)}`);
    assert.equal(r.status, 200);
    assert.equal(r.text.trim(), "[]");
    assert.ok(indexOf(r) >= 1);
  });

  test("bad parameters answer 400 with Consul's messages", async () => {
    const name = uniqueName("svc-bad", random);
    const w = await rawGet(suite.target, `/v1/health/service/${name}?index=5&wait=ten`);
    assert.equal(w.status, 400);
    assert.match(w.text, /Invalid wait time/);
    const i = await rawGet(suite.target, `/v1/health/service/${name}?index=abc`);
    assert.equal(i.status, 400);
    assert.match(i.text, /Invalid index/);
    const p = await rawGet(suite.target, `/v1/health/service/${name}?passing=maybe`);
    assert.equal(p.status, 400);
    assert.match(p.text, /Invalid value for \?passing/);
    const f = await rawGet(
      suite.target,
      `/v1/health/service/${name}?filter=${encodeURIComponent("Service.Meta.x ===")}`,
    );
    assert.equal(f.status, 400, f.text);
  });

  test("unknown ids answer 404 on deregister and on check updates", async () => {
    const id = uniqueName("ghost", random);
    const d = await rawPut(suite.target, `/v1/agent/service/deregister/${id}`);
    assert.equal(d.status, 404);
    assert.match(d.text, new RegExp(`Unknown service ID "${id}"`));
    const c = await rawPut(suite.target, `/v1/agent/check/pass/${id}`);
    assert.equal(c.status, 404);
  });

  test("a blocking query holds until the service changes, then answers with a higher index", async () => {
    const name = uniqueName("svc-block", random);
    await suite.register({ Name: name, Port: 2, Check: { TTL: "30s" } });
    const first = await rawGet(suite.target, `/v1/health/service/${name}`);
    const idx = indexOf(first);
    let answered = false;
    const pending = rawGet(suite.target, `/v1/health/service/${name}?index=${idx}&wait=10s`).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(answered, false, "a blocking query must not answer before a change");
    await agentClient(suite.target).agent.check.pass({ id: `service:${name}`, note: "all good" });
    const r = await pending;
    assert.ok(indexOf(r) > idx, `index must grow: ${idx} -> ${indexOf(r)}`);
    const check = (r.json() as Entry[])[0].Checks.find((c) => c.CheckID === `service:${name}`);
    assert.equal(check?.Status, "passing");
    assert.equal(check?.Output, "all good", "the note becomes Output");
  });

  test("an update that changes only the output is deferred (check_update_interval); a status change is not", async () => {
    const name = uniqueName("svc-output", random);
    await suite.register({ Name: name, Port: 8, Check: { TTL: "30s" } });
    const consul = agentClient(suite.target);
    await consul.agent.check.pass({ id: `service:${name}`, note: "first" });
    const idx = indexOf(await rawGet(suite.target, `/v1/health/service/${name}`));
    await consul.agent.check.pass({ id: `service:${name}`, note: "second" });
    const r = await rawGet(suite.target, `/v1/health/service/${name}`);
    assert.equal(indexOf(r), idx, "output-only change does not move the index");
    const out = (r.json() as Entry[])[0].Checks.find((c) => c.CheckID === `service:${name}`)?.Output;
    assert.equal(out, "first");
    await consul.agent.check.warn({ id: `service:${name}`, note: "third" });
    const w = await rawGet(suite.target, `/v1/health/service/${name}`);
    assert.ok(indexOf(w) > idx);
    assert.equal(
      (w.json() as Entry[])[0].Checks.find((c) => c.CheckID === `service:${name}`)?.Output,
      "third",
    );
  });

  test("double only: deferred output syncs after checkUpdateIntervalMs", async (t) => {
    if (needControls(t, suite.target, "a short check_update_interval") === undefined) return;
    const d = await consulTarget({ seed: SEED, checkUpdateIntervalMs: 50 });
    t.after(() => d.close());
    await registerService(d, { Name: "o", Port: 1, Check: { TTL: "30s", Status: "passing" } });
    const idx = indexOf(await rawGet(d, "/v1/health/service/o"));
    await agentClient(d).agent.check.pass({ id: "service:o", note: "late" });
    const r = await rawGet(d, `/v1/health/service/o?index=${idx}&wait=5s`);
    assert.ok(indexOf(r) > idx);
    assert.equal((r.json() as Entry[])[0].Checks.find((c) => c.CheckID === "service:o")?.Output, "late");
  });

  test("a blocking query that times out answers 200 with the current data and index", async () => {
    const name = uniqueName("svc-timeout", random);
    await suite.register({ Name: name, Port: 3, Check: { TTL: "30s", Status: "passing" } });
    const idx = indexOf(await rawGet(suite.target, `/v1/health/service/${name}`));
    const started = Date.now();
    const r = await rawGet(suite.target, `/v1/health/service/${name}?index=${idx}&wait=300ms`);
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started >= 290, "held for the wait time");
    assert.equal(indexOf(r), idx, "no change: same index");
    assert.equal((r.json() as Entry[]).length, 1);
  });

  test("?passing drops entries with any non-passing check (warning too); tag and filter select", async () => {
    const name = uniqueName("svc-pass", random);
    await suite.register({
      Name: name,
      ID: `${name}-a`,
      Tags: ["Blue"],
      Meta: { shard: "a" },
      Port: 1,
      Check: { TTL: "30s", Status: "passing" },
    });
    await suite.register({
      Name: name,
      ID: `${name}-b`,
      Tags: ["green"],
      Meta: { shard: "b" },
      Port: 2,
      Check: { TTL: "30s", Status: "warning" },
    });
    await suite.register({
      Name: name,
      ID: `${name}-c`,
      Tags: ["blue", "x"],
      Meta: { shard: "a" },
      Port: 3,
      Check: { TTL: "30s" },
    });
    const ids = async (q: string) =>
      ((await rawGet(suite.target, `/v1/health/service/${name}${q}`)).json() as Entry[])
        .map((e) => e.Service.ID)
        .sort();
    assert.deepEqual(await ids(""), [`${name}-a`, `${name}-b`, `${name}-c`]);
    assert.deepEqual(await ids("?passing"), [`${name}-a`]);
    assert.deepEqual(await ids("?passing=true"), [`${name}-a`]);
    assert.deepEqual(await ids("?passing=false"), [`${name}-a`, `${name}-b`, `${name}-c`]);
    assert.deepEqual(await ids("?tag=blue"), [`${name}-a`, `${name}-c`], "tags compare case-insensitively");
    assert.deepEqual(await ids("?tag=blue&tag=x"), [`${name}-c`], "repeated tags must all match");
    const f1 = encodeURIComponent('Service.Meta.shard == "a"');
    assert.deepEqual(await ids(`?filter=${f1}`), [`${name}-a`, `${name}-c`]);
    const f2 = encodeURIComponent('Service.Tags contains "green"');
    assert.deepEqual(await ids(`?filter=${f2}`), [`${name}-b`]);
  });

  test("deregister removes the entry and wakes blocked queries", async () => {
    const name = uniqueName("svc-dereg", random);
    await suite.register({ Name: name, Port: 4, Check: { TTL: "30s", Status: "passing" } });
    const idx = indexOf(await rawGet(suite.target, `/v1/health/service/${name}`));
    const pending = rawGet(suite.target, `/v1/health/service/${name}?index=${idx}&wait=10s`);
    await new Promise((r) => setTimeout(r, 50));
    await agentClient(suite.target).agent.service.deregister(name);
    const r = await pending;
    assert.equal(r.text.trim(), "[]");
    assert.ok(indexOf(r) > idx, "the index of a vanished service is the last deregistration index");
  });

  test("a TTL check that is not renewed turns critical", async () => {
    const name = uniqueName("svc-ttl", random);
    await suite.register({ Name: name, Port: 5, Check: { TTL: "1s", Status: "passing" } });
    const status = await eventually(
      "TTL expiry",
      async () => {
        const e = ((await rawGet(suite.target, `/v1/health/service/${name}`)).json() as Entry[])[0];
        const c = e.Checks.find((x) => x.CheckID === `service:${name}`);
        return c?.Status === "critical" ? c : undefined;
      },
      6000,
      100,
    );
    assert.match(status.Output, /TTL expired/);
  });

  test("HTTP checks probe the URL: 2xx passing, 429 warning, else critical", async () => {
    let code = 200;
    const upstream = http.createServer((_req, res) => {
      res.writeHead(code);
      res.end("ok");
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    const port = (upstream.address() as AddressInfo).port;
    try {
      const name = uniqueName("svc-http", random);
      const interval = suite.target.kind === "double" ? "100ms" : "1s";
      await suite.register({
        Name: name,
        Port: port,
        Check: { HTTP: `http://127.0.0.1:${port}/health`, Interval: interval, Timeout: "1s" },
      });
      const statusIs = (want: string) => async () => {
        const e = ((await rawGet(suite.target, `/v1/health/service/${name}`)).json() as Entry[])[0];
        const c = e.Checks.find((x) => x.CheckID === `service:${name}`);
        return c?.Status === want ? c : undefined;
      };
      await eventually("passing", statusIs("passing"), 6000, 50);
      code = 429;
      await eventually("warning", statusIs("warning"), 6000, 50);
      code = 503;
      await eventually("critical", statusIs("critical"), 6000, 50);
      await agentClient(suite.target).agent.service.deregister(name);
    } finally {
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  test("status/leader answers a JSON string", async () => {
    const r = await rawGet(suite.target, "/v1/status/leader");
    assert.equal(r.status, 200);
    assert.equal(typeof r.json(), "string");
  });

  test("double only: stop() refuses connections, start() serves the same state on the same port", async (t) => {
    const d = needControls(t, suite.target, "stop()/start()");
    if (d === undefined) return;
    const name = uniqueName("svc-stop", random);
    await suite.register({ Name: name, Port: 6, Check: { TTL: "30s", Status: "passing" } });
    const idx = indexOf(await rawGet(suite.target, `/v1/health/service/${name}`));
    const blocked = rawGet(suite.target, `/v1/health/service/${name}?index=${idx}&wait=10s`).then(
      () => "answered",
      () => "dropped",
    );
    await new Promise((r) => setTimeout(r, 30));
    const port = d.port;
    await d.stop();
    assert.equal(await blocked, "dropped", "in-flight blocking query is cut");
    await assert.rejects(rawGet(suite.target, `/v1/health/service/${name}`), /ECONNREFUSED/);
    await d.start();
    assert.equal(d.port, port);
    const r = await rawGet(suite.target, `/v1/health/service/${name}`);
    assert.equal((r.json() as Entry[])[0].Service.ID, name);
    assert.equal(indexOf(r), idx);
  });

  test("double only: a snapshot restore wakes blocked queries with a lower index", async (t) => {
    const d = needControls(t, suite.target, "restoreSnapshot()");
    if (d === undefined) return;
    const name = uniqueName("svc-restore", random);
    await suite.register({ Name: name, Port: 7, Check: { TTL: "30s", Status: "passing" } });
    const idx = indexOf(await rawGet(suite.target, `/v1/health/service/${name}`));
    const pending = rawGet(suite.target, `/v1/health/service/${name}?index=${idx}&wait=10s`);
    await new Promise((r) => setTimeout(r, 30));
    d.restoreSnapshot(2);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(indexOf(r), 2, `index went backwards (${seedMsg})`);
  });

  test("double only: requestCount counts per endpoint and an ACL token is enforced when configured", async (t) => {
    const d = needControls(t, suite.target, "request counters");
    if (d === undefined) return;
    const before = d.requestCount("health.service");
    await rawGet(suite.target, "/v1/health/service/x");
    await rawGet(suite.target, "/v1/health/service/y");
    assert.equal(d.requestCount("health.service"), before + 2);
    const guarded = await consulTarget({ seed: SEED, aclToken: "s3cret" });
    try {
      const denied = await rawGet({ ...guarded, token: undefined }, "/v1/health/service/x");
      assert.equal(denied.status, 403);
      const ok = await rawGet(guarded, "/v1/health/service/x");
      assert.equal(ok.status, 200);
    } finally {
      await guarded.close();
    }
  });
});

test("double only: an answer built from remembered entries equals one built from scratch after any changes", async () => {
  // One double takes seeded changes and answers after every one (so it answers from the
  // entries it remembered); at checkpoints a fresh double replays the same changes and answers
  // once. Read through the `consul` client, both answers (index included) must be equal.
  const seed = SEED + 16;
  const opts = { seed, checkUpdateIntervalMs: 3_600_000 };
  type Target = Awaited<ReturnType<typeof consulTarget>>;
  const warm = await consulTarget(opts);
  try {
    if (warm.controls === undefined) return; // a real agent: nothing to compare
    const r = seededRandom(seed);
    const id = () => `s${Math.floor(r() * 6)}`;
    const ops: (() => (t: Target) => Promise<unknown>)[] = [
      () => {
        const [s, tags, port] = [id(), [`t${Math.floor(r() * 3)}`], 1000 + Math.floor(r() * 3)];
        return (t) =>
          registerService(t, {
            Name: "svc",
            ID: s,
            Port: port,
            Tags: tags,
            Check: { CheckID: `c-${s}`, TTL: "1h" },
          });
      },
      () => {
        const [s, verb, note] = [
          id(),
          ["pass", "warn", "fail"][Math.floor(r() * 3)],
          `n${Math.floor(r() * 3)}`,
        ];
        return (t) => rawPut(t, `/v1/agent/check/${verb}/c-${s}?note=${note}`);
      },
      () => {
        const [s, verb] = [id(), ["pass", "warn", "fail"][Math.floor(r() * 3)]];
        return (t) => rawPut(t, `/v1/agent/check/${verb}/c-${s}`);
      },
      () => {
        const s = id();
        return (t) => rawPut(t, `/v1/agent/service/deregister/${s}`);
      },
      () => {
        const status = r() < 0.7 ? "passing" : "critical";
        return async (t) => t.controls?.setSerfHealth(status);
      },
    ];
    const read = async (t: Target) => {
      const [res, body] = (await agentClient(t).health.service({
        service: "svc",
        ctx: Object.assign(new EventEmitter(), { includeResponse: true }),
      } as unknown as Parameters<ReturnType<typeof agentClient>["health"]["service"]>[0])) as unknown as [
        { headers: http.IncomingHttpHeaders },
        Entry[],
      ];
      return { index: indexOf(res), body };
    };
    const done: ((t: Target) => Promise<unknown>)[] = [];
    for (let step = 1; step <= 90; step++) {
      const op = ops[Math.floor(r() * ops.length)]();
      done.push(op);
      await op(warm);
      const seen = await read(warm);
      if (step % 15 !== 0) continue;
      const cold = await consulTarget(opts);
      try {
        for (const o of done) await o(cold);
        assert.deepEqual(seen, await read(cold), `seed=${seed} step ${step}`);
      } finally {
        await cold.close();
      }
    }
  } finally {
    await warm.close();
  }
});

test("double only: lastStatusChangeAt marks a check's status change, not an output-only update", async (t) => {
  // The scale bench times a Consul change from this mark.
  const target = await consulTarget({ seed: SEED });
  try {
    const d = needControls(t, target, "lastStatusChangeAt");
    if (d === undefined) return;
    await registerService(target, {
      Name: "m",
      ID: "m1",
      Port: 1,
      Check: { CheckID: "c1", TTL: "1h", Status: "passing" },
    });
    const before = performance.now();
    await rawPut(target, "/v1/agent/check/fail/c1");
    const failedAt = d.lastStatusChangeAt;
    assert.ok(
      failedAt !== undefined && failedAt >= before && failedAt <= performance.now(),
      `mark ${failedAt}`,
    );
    await rawPut(target, "/v1/agent/check/fail/c1?note=still");
    assert.equal(d.lastStatusChangeAt, failedAt, "an output-only update is not a status change");
    await rawPut(target, "/v1/agent/check/pass/c1");
    assert.ok((d.lastStatusChangeAt as number) > failedAt);
  } finally {
    await target.close();
  }
});
