// The admin server against a DNS-rebinding page. A page on evil.example whose name the
// attacker re-points at 127.0.0.1 is the same origin as the attacker's own site to the browser:
// before, its fetch("/admin/state") from an operator's laptop answered 200 with every pool,
// member id and address (and /metrics, /admin/route, /ui the same). Now the admin server
// answers only Host values that name it (addresses, localhost, dotless names, the machine's
// name, admin.fleet's hosts, admin.allowedHosts) and anything else 421 host_not_allowed.
// Real headless chromium (playwright-core) maps evil.example and admin.example to 127.0.0.1
// (--host-resolver-rules), so its requests carry the foreign Host as a rebound page's would:
// the attacker's first answer (the page itself) is played by page.route, every later request
// goes to the real shardgate. Raw requests check each endpoint and the write path.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium } from "playwright-core";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TOKEN = "rebinding-test-token-0123456789";
const WAIT_MS = 30_000;

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function raw(adminUrl: string, path: string, host: string, method = "GET", headers = {}): Promise<Answer> {
  const u = new URL(adminUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path, method, agent: false, headers: { ...headers, host } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            headers: res.headers,
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(WAIT_MS, () =>
      req.destroy(new Error(`no answer to ${method} ${path} within ${WAIT_MS} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}

describe("admin server: a DNS-rebinding page reads and writes nothing", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let port: string;
  let browser: Browser;
  let config: string;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
    ups = await startUpstreams(2, "rb");
    const yaml = poolConfig({
      members: ups.map((u) => ({ id: u.id, port: u.port })),
      token: TOKEN,
      accessLog: false,
    }).replace(/^admin:\n/m, `admin:\n  allowedHosts: ["admin.example", "*.ops.example"]\n`);
    sg = await startShardgate(yaml);
    config = yaml;
    port = new URL(sg.adminUrl).port;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP admin.example 127.0.0.1",
        // Chromium's own Private Network Access check refuses a page it took for public
        // reaching loopback; Firefox and Safari have none, so the server must stand alone.
        "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,LocalNetworkAccessChecks",
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("a foreign Host is refused 421 on every endpoint, telling nothing of the state", async () => {
    const started = performance.now();
    let refused = 0;
    for (const path of [
      "/admin/state",
      "/admin/dashboard",
      "/admin/route?pool=users&key=alice",
      "/admin/live",
      "/metrics",
      "/readyz",
      "/ui",
      "/no/such/path",
    ]) {
      for (const host of [
        `evil.example:${port}`,
        "evil.example",
        `EVIL.example.:${port}`,
        `x.admin.example:${port}`,
      ]) {
        const r = await raw(sg.adminUrl, path, host);
        refused++;
        assert.equal(r.status, 421, `${path} with Host ${host}: ${r.status} ${r.body.slice(0, 200)}`);
        assert.equal(JSON.parse(r.body).error, "host_not_allowed", `${path} with Host ${host}`);
        assert.equal(r.headers["x-content-type-options"], "nosniff");
        for (const u of ups) assert.ok(!r.body.includes(u.id), `${path} named member ${u.id}: ${r.body}`);
      }
    }
    // The refusals are logged at most once per 10 s: a page looping on fetch() is no log flood.
    const elapsedS = (performance.now() - started) / 1000;
    const logged = () =>
      sg.proc
        .output()
        .split("\n")
        .filter((l) => l.includes("the Host does not name this server")).length;
    const lines = await sg.proc.waitFor("the refusal logged", () => (logged() >= 1 ? logged() : undefined));
    assert.ok(
      lines <= Math.floor(elapsedS / 10) + 1,
      `${lines} log lines for ${refused} refusals in ${elapsedS.toFixed(1)} s`,
    );
  });

  test("a foreign Host cannot drain a member even with the token", async () => {
    const member = ups[0].id;
    const r = await raw(
      sg.adminUrl,
      `/admin/pools/users/members/${member}/drain`,
      `evil.example:${port}`,
      "POST",
      {
        authorization: `Bearer ${TOKEN}`,
      },
    );
    assert.equal(r.status, 421, r.body);
    const state = JSON.parse((await raw(sg.adminUrl, "/admin/state", `127.0.0.1:${port}`)).body);
    const m = state.pools.users.members.find((x: { id: string }) => x.id === member);
    assert.equal(m.draining, false, "the member was drained through a foreign Host");
  });

  test("a foreign Host with Expect: 100-continue is refused without inviting the body", async () => {
    const head = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port: Number(port) });
      let got = "";
      s.setTimeout(WAIT_MS, () =>
        s.destroy(new Error(`no answer within ${WAIT_MS} ms: ${JSON.stringify(got)}`)),
      );
      s.on("data", (c: Buffer) => {
        got += c.toString("latin1");
        // The first status line is all this asks: a 100 or the refusal.
        if (got.includes("\r\n")) {
          s.destroy();
          resolve(got.slice(0, got.indexOf("\r\n")));
        }
      });
      s.on("error", reject);
      s.write(
        `POST /admin/reload HTTP/1.1\r\nHost: evil.example:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n` +
          "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n",
      );
    });
    assert.match(head, /^HTTP\/1\.1 421 /, `first status line: ${head}`);
  });

  test("the names that name the server are answered", async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST.:${port}`,
      `dash.localhost:${port}`,
      `[::1]:${port}`,
      `10.1.2.3:${port}`,
      `shardgate-0:${port}`,
      `admin.example:${port}`,
      `Admin.Example`,
      `a.ops.example:${port}`,
    ]) {
      const r = await raw(sg.adminUrl, "/admin/state", host);
      assert.equal(r.status, 200, `Host ${host}: ${r.status} ${r.body.slice(0, 200)}`);
      assert.ok(r.body.includes(ups[0].id), `Host ${host}`);
    }
    // The bare suffix is not a name under it.
    assert.equal((await raw(sg.adminUrl, "/admin/state", `ops.example:${port}`)).status, 421);
  });

  test("a name added to admin.allowedHosts by a reload is answered from then on", async () => {
    const host = `late.example:${port}`;
    assert.equal((await raw(sg.adminUrl, "/admin/state", host)).status, 421, "before the reload");
    sg.config.write(
      config.replace('allowedHosts: ["admin.example",', 'allowedHosts: ["late.example", "admin.example",'),
    );
    const reload = await raw(sg.adminUrl, "/admin/reload", `127.0.0.1:${port}`, "POST", {
      authorization: `Bearer ${TOKEN}`,
    });
    assert.equal(reload.status, 200, reload.body);
    assert.deepEqual(JSON.parse(reload.body).restartRequired, []);
    assert.equal((await raw(sg.adminUrl, "/admin/state", host)).status, 200, "after the reload");
  });

  test("in chromium, a rebound evil.example page reads nothing; admin.example (listed) works", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // The attacker's first answer for evil.example: its own page. Every request after it
      // resolves evil.example to 127.0.0.1, as a rebinding DNS server would have it.
      await page.route(`http://evil.example:${port}/attack.html`, (route) =>
        route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>evil</title>" }),
      );
      await page.goto(`http://evil.example:${port}/attack.html`);
      const stolen = await page.evaluate(async () => {
        const out: { path: string; status: number; text: string }[] = [];
        for (const path of ["/admin/state", "/metrics", "/admin/route?pool=users&key=alice"]) {
          const r = await fetch(path, { cache: "no-store" });
          out.push({ path, status: r.status, text: await r.text() });
        }
        return out;
      });
      for (const s of stolen) {
        assert.equal(s.status, 421, `${s.path} from the rebound page: ${s.status} ${s.text.slice(0, 200)}`);
        for (const u of ups) assert.ok(!s.text.includes(u.id), `${s.path} showed member ${u.id}`);
      }
      const nav = await page.goto(`http://evil.example:${port}/ui`);
      assert.equal(nav?.status(), 421, "the dashboard under the rebound name");

      // A name the operator listed: the dashboard loads and draws the members.
      const ok = await context.newPage();
      const res = await ok.goto(`http://admin.example:${port}/ui`);
      assert.equal(res?.status(), 200);
      await ok.waitForFunction(
        (n) => document.querySelectorAll("#members tbody tr").length === n,
        ups.length,
        { timeout: WAIT_MS },
      );
    } finally {
      await context.close();
    }
  });
});
