// Process lifecycle of real shardgate processes: an invalid config exits 1 with every error's
// path, a taken port exits 1 with a clear reason, SIGTERM drains an in-flight slow request
// and exits 0, and `shardgate demo` serves sticky answers and stops on SIGTERM.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, describe, test } from "node:test";
import { WebSocket } from "ws";
import {
  fetchJson,
  poolConfig,
  ShardgateChild,
  startShardgate,
  stopAll,
  TempConfig,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

describe("ops: start refuses to run on bad input", () => {
  after(() => stopAll());

  test("an invalid config prints every error with its path and exits 1", async () => {
    const cfg = new TempConfig(`listen:
  http: 127.0.0.1:99999
pools:
  users:
    algorithm: rong
    members:
      - { id: u1, address: 127.0.0.1:9101, weight: 0 }
routes:
  - pool: users
    key: [header:x-user-id]
    onMissingKey: sometimes
`);
    try {
      const p = new ShardgateChild(["start", "--config", cfg.path]);
      const exit = await p.waitExit();
      assert.equal(exit.code, 1, p.output());
      for (const path of [
        "listen.http",
        "pools.users.algorithm",
        "pools.users.members[0].weight",
        "routes[0].onMissingKey",
      ]) {
        assert.ok(p.stderr.includes(path), `stderr names ${path}:\n${p.stderr}`);
      }
      assert.match(p.stderr, /4 errors; shardgate did not start/);
      assert.equal(p.lines.length, 0, "nothing was started, so nothing was logged");
    } finally {
      cfg.remove();
    }
  });

  test("a missing file and a missing --config are reported", async () => {
    const p = new ShardgateChild(["start", "--config", "/nonexistent/shardgate.yaml"]);
    assert.equal((await p.waitExit()).code, 1, p.output());
    assert.match(p.stderr, /cannot read config file \/nonexistent\/shardgate\.yaml: no such file/);
    const q = new ShardgateChild(["start"]);
    assert.equal((await q.waitExit()).code, 2, q.output());
    assert.match(q.stderr, /--config FILE is required/);
  });

  test("a port that is already taken exits 1 and says so", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const cfg = new TempConfig(
      poolConfig({ members: [{ id: "a", port: 9 }], listenHttp: `127.0.0.1:${port}` }),
    );
    try {
      const p = new ShardgateChild(["start", "--config", cfg.path]);
      assert.equal((await p.waitExit()).code, 1, p.output());
      assert.match(p.stderr, new RegExp(`listen\\.http: 127\\.0\\.0\\.1:${port} is already in use`));
    } finally {
      cfg.remove();
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe("ops: SIGTERM drains in-flight requests", () => {
  let ups: EchoUpstream[] = [];
  after(async () => {
    await stopAll();
    await closeAll(ups);
  });

  test("a slow request in flight completes, new connections are refused, exit code 0", async () => {
    ups = await startUpstreams(1, "s");
    ups[0].mode = { kind: "delayHeaders", ms: 1200 };
    const sg = await startShardgate(poolConfig({ members: [{ id: "s1", port: ups[0].port }] }));
    try {
      const slow = fetchJson(`${sg.httpUrl}/slow`, { headers: { "x-user-id": "k" } });
      const t0 = Date.now();
      while (ups[0].requests === 0 && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 10));
      assert.equal(ups[0].requests, 1, "the slow request reached the upstream");
      sg.proc.signal("SIGTERM");
      await sg.proc.waitForLine("drain started", (l) => l.msg === "shutting down: draining");
      const ready = await fetchJson(`${sg.adminUrl}/readyz`).catch((err: unknown) => ({
        status: -1,
        text: String(err),
      }));
      assert.ok(
        ready.status === 503 || ready.status === -1,
        `readyz during drain: ${ready.status} ${ready.text}`,
      );
      await assert.rejects(
        fetch(`${sg.httpUrl}/`, { headers: { "x-user-id": "k2", connection: "close" } }),
        "the listener no longer accepts",
      );
      const res = await slow;
      assert.equal(res.status, 200, res.text);
      assert.equal((res.body as { member: string }).member, "s1");
      const exit = await sg.proc.waitExit(10_000);
      assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());
      const done = sg.proc.lines.find((l) => l.msg === "shutdown complete");
      assert.equal(done?.cut, 0, sg.proc.output());
      const access = sg.proc.lines.find((l) => l.type === "access" && l.path === "/slow");
      assert.equal(access?.status, 200, "the drained request was logged");
    } finally {
      await sg.stop();
    }
  });
});

describe("ops: the drain deadline", () => {
  let ups: EchoUpstream[] = [];
  after(async () => {
    await stopAll();
    await closeAll(ups);
  });

  test("an open websocket and a request slower than --drain-timeout are cut at the deadline; exit 0", async () => {
    ups = await startUpstreams(1, "w");
    const sg = await startShardgate(poolConfig({ members: [{ id: "w1", port: ups[0].port }] }), {
      args: ["--drain-timeout", "400ms"],
    });
    try {
      const ws = new WebSocket(`${sg.httpUrl.replace("http:", "ws:")}/socket`, {
        headers: { "x-user-id": "k" },
      });
      const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
      ws.on("error", () => undefined);
      await new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      });
      const echoed = new Promise<string>((resolve) => ws.once("message", (d) => resolve(String(d))));
      ws.send("hello");
      assert.equal(await echoed, "w1:hello");
      ups[0].mode = { kind: "delayHeaders", ms: 5_000 };
      const slow = fetch(`${sg.httpUrl}/slow`, { headers: { "x-user-id": "k" } }).then(
        (r) => r.status,
        () => "cut",
      );
      const t0 = Date.now();
      while (ups[0].requests === 0 && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 10));
      const stopAt = Date.now();
      sg.proc.signal("SIGTERM");
      const exit = await sg.proc.waitExit(10_000);
      assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());
      assert.ok(
        Date.now() - stopAt < 4_000,
        `exit within the deadline plus grace, took ${Date.now() - stopAt}ms`,
      );
      assert.notEqual(await slow, 200, "the slow request could not finish in 400ms");
      await closed;
      const warn = sg.proc.lines.find((l) => l.msg === "drain deadline reached; cutting requests");
      assert.ok(warn !== undefined && Number(warn.inFlight) >= 2, sg.proc.output());
    } finally {
      await sg.stop();
    }
  });
});

describe("ops: shardgate demo", () => {
  after(() => stopAll());

  test("starts, prints a curl line that gives sticky answers, explains it, stops on SIGTERM", async () => {
    const p = new ShardgateChild(["demo", "--single", "--port", "0", "--admin-port", "0"]);
    const curl = await p.waitFor("the demo's curl line", () =>
      p.textLines.find((l) => /curl -s -H 'x-user-id: alice' http:\/\/127\.0\.0\.1:\d+\/$/.test(l.trim())),
    );
    const url = (/(http:\/\/127\.0\.0\.1:\d+\/)$/.exec(curl.trim()) ?? [])[1];
    const explainLine = await p.waitFor("the explain curl line", () =>
      p.textLines.find((l) => l.includes("/admin/route?pool=demo&key=alice")),
    );
    const explainUrl = (/'(http:[^']+)'/.exec(explainLine) ?? [])[1];
    const claimed = (/key "alice" goes to (d\d)/.exec(p.textLines.join("\n")) ?? [])[1];
    const members = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await fetchJson(url, { headers: { "x-user-id": "alice" } });
      assert.equal(r.status, 200, r.text);
      members.add((r.body as { member: string }).member);
    }
    assert.equal(members.size, 1, `alice must stick to one member, got ${[...members]}`);
    const [member] = members;
    assert.equal(member, claimed, "the banner names the member alice reaches");
    const e = await fetchJson(explainUrl);
    assert.equal((e.body as { member: string }).member, member, e.text);
    const others = new Set<string>();
    for (const user of ["bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]) {
      const r = await fetchJson(`${url}?user=${user}`);
      others.add((r.body as { member: string }).member);
    }
    assert.ok(others.size >= 2, `keys spread over the demo's members: ${[...others]}`);
    p.signal("SIGTERM");
    assert.deepEqual(await p.waitExit(10_000), { code: 0, signal: null }, p.output());
  });

  test("a taken port is reported with a hint", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const p = new ShardgateChild(["demo", "--single", "--port", String(port), "--admin-port", "0"]);
      assert.equal((await p.waitExit()).code, 1, p.output());
      assert.match(p.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
      assert.match(p.stderr, /--port/);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
