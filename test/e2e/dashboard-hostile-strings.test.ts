// The dashboard in headless chromium (playwright-core) against a real shardgate whose
// `admin.fleet` lists a hostile neighbour: a loopback HTTP server answering /admin/state with
// markup in every string the fleet table shows (instance id, role, leader, degraded reason).
// The page must show each as the text it is, run none of it, and, should markup ever get into
// the page by another way, its content security policy must refuse to run it: an injected
// inline event handler and an injected <script> both stay dead and are reported as violations
// (the policy allowed 'unsafe-inline' scripts, so both ran). The page still works (its own
// script is allowed by hash), and its headers forbid framing and sniffing.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];
const WAIT_MS = 30_000;

const HOSTILE = {
  id: `n<img src=x onerror="window.__xss='id'">`,
  role: `<script>window.__xss='role'</script>follower`,
  leader: `<svg onload="window.__xss='leader'"></svg>`,
  degraded: `quorum_lost<iframe srcdoc="<script>parent.__xss='degraded'</script>"></iframe>`,
};

describe("dashboard: hostile strings stay text, injected markup cannot run", () => {
  let ups: EchoUpstream[];
  let neighbour: http.Server;
  let sg: RunningShardgate;
  let browser: Browser;
  let page: Page;
  /** Any alert() that ran: none may. */
  const dialogs: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
    neighbour = http.createServer((req, res) => {
      const body =
        req.url === "/admin/state"
          ? {
              ringVersion: 1,
              pools: {},
              raft: {
                id: HOSTILE.id,
                role: HOSTILE.role,
                term: 1,
                leader: HOSTILE.leader,
                commitIndex: 1,
                appliedIndex: 1,
              },
              degraded: HOSTILE.degraded,
            }
          : { error: "not_found", message: "no" };
      res.writeHead(req.url === "/admin/state" ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => neighbour.listen(0, "127.0.0.1", r));
    const neighbourUrl = `http://127.0.0.1:${(neighbour.address() as AddressInfo).port}`;
    ups = await startUpstreams(2, "hs");
    const yaml = poolConfig({
      members: ups.map((u) => ({ id: u.id, port: u.port })),
      accessLog: false,
    }).replace(/^admin:\n/m, `admin:\n  fleet: ["${neighbourUrl}"]\n`);
    sg = await startShardgate(yaml);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage();
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${sg.adminUrl}/ui`);
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
    await new Promise<void>((r) => (neighbour ? neighbour.close(() => r()) : r()));
  });

  test("the neighbour's strings are shown as text and run nothing", async () => {
    // The page's own script runs (allowed by its hash): it draws both fleet rows.
    await page.waitForFunction(() => document.querySelectorAll("#fleet tbody tr").length === 2, null, {
      timeout: WAIT_MS,
    });
    const row = await page.$$eval("#fleet tbody tr", (trs) =>
      trs
        .map((tr) => [...tr.querySelectorAll("td")].map((c) => c.textContent ?? ""))
        .find((td) => td[0].startsWith("n<")),
    );
    assert.ok(row !== undefined, "the neighbour's row");
    assert.equal(row[0], HOSTILE.id);
    assert.equal(row[1], HOSTILE.role);
    assert.equal(row[3], HOSTILE.leader);
    assert.equal(row[8], HOSTILE.degraded);
    const found = await page.evaluate(() => ({
      xss: (window as unknown as { __xss?: string }).__xss,
      elements: document.querySelectorAll("#fleet img, #fleet svg, #fleet iframe, #fleet script").length,
    }));
    assert.deepEqual(found, { xss: undefined, elements: 0 });
    assert.deepEqual(dialogs, []);
  });

  test("markup injected into the page cannot run script", async () => {
    const ran = await page.evaluate(() => {
      const w = window as unknown as { __xss?: string; __violations?: string[] };
      w.__violations = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        w.__violations?.push(e.violatedDirective);
      });
      const div = document.createElement("div");
      div.innerHTML = `<button id="injected" onclick="window.__xss='onclick'">x</button>`;
      document.body.appendChild(div);
      (document.getElementById("injected") as HTMLButtonElement).click();
      const s = document.createElement("script");
      s.textContent = "window.__xss = (window.__xss || '') + 'script';";
      document.body.appendChild(s);
      return w.__xss ?? null;
    });
    assert.equal(ran, null, "an injected handler or script ran");
    // Both refusals are reported (asynchronously) as violations of the script policy.
    await page.waitForFunction(
      () => ((window as unknown as { __violations?: string[] }).__violations ?? []).length >= 2,
      null,
      { timeout: WAIT_MS },
    );
    const violations = await page.evaluate(
      () => (window as unknown as { __violations: string[] }).__violations,
    );
    assert.ok(
      violations.every((v) => v.startsWith("script-src")),
      `violations: ${violations.join(", ")}`,
    );
  });

  test("the page's headers forbid framing and sniffing", async () => {
    const r = await fetch(`${sg.adminUrl}/ui`);
    await r.text();
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/]+={0,2}';/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("x-frame-options"), "DENY");
  });
});
