// The dashboard's style policy in headless chromium (playwright-core) against a real
// shardgate. Before, the page allowed `style-src 'unsafe-inline'`: markup that got into the
// page anyhow could restyle it, hide the members table or lay a full-page box (a fake
// "re-enter your admin token" prompt) over it. Now only the page's own <style>, by its hash,
// applies and no style="" attribute does; the page still draws itself (its own stylesheet and
// the swatch colours its script sets through the CSSOM), with no violation of its own.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];
const WAIT_MS = 30_000;

type Watched = Window & { __violations?: string[] };

describe("dashboard: injected markup cannot restyle the page", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
    ups = await startUpstreams(2, "st");
    sg = await startShardgate(
      poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage();
    // Violations from the page's own load are collected from the first byte on.
    await page.addInitScript(() => {
      const w = window as Watched;
      w.__violations = [];
      document.addEventListener("securitypolicyviolation", (e) => w.__violations?.push(e.violatedDirective));
    });
    await page.goto(`${sg.adminUrl}/ui`);
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("the page's own style and swatch colours apply, with no violation", async () => {
    await page.waitForFunction(
      (n) => document.querySelectorAll("#members tbody tr").length === n,
      ups.length,
      {
        timeout: WAIT_MS,
      },
    );
    const seen = await page.evaluate(() => ({
      body: getComputedStyle(document.body).backgroundColor,
      push: getComputedStyle(document.querySelector("header .push") as Element).marginLeft,
      swatch: getComputedStyle(document.querySelector("#members .swatch") as Element).backgroundColor,
      violations: (window as Watched).__violations,
    }));
    assert.equal(seen.body, "rgb(15, 20, 25)", "the page's stylesheet applies");
    assert.notEqual(seen.push, "0px", "the token box is pushed right");
    assert.match(seen.swatch, /^rgb\(/, `the swatch has its colour: ${seen.swatch}`);
    assert.notEqual(seen.swatch, "rgba(0, 0, 0, 0)", "the swatch has its colour");
    assert.deepEqual(seen.violations, [], "the page's own content broke its policy");
  });

  test("an injected style attribute or <style> element changes nothing", async () => {
    const seen = await page.evaluate(() => {
      const div = document.createElement("div");
      div.innerHTML =
        `<div id="overlay" style="position:fixed;inset:0;z-index:99;background:rgb(255,0,0)">admin token expired, enter it again</div>` +
        `<style>#members { display: none !important; }</style>`;
      document.body.appendChild(div);
      return {
        overlay: getComputedStyle(document.getElementById("overlay") as Element).position,
        members: getComputedStyle(document.getElementById("members") as Element).display,
      };
    });
    assert.equal(seen.overlay, "static", "an injected style attribute applied");
    assert.notEqual(seen.members, "none", "an injected <style> hid the members table");
    await page.waitForFunction(() => ((window as Watched).__violations ?? []).length >= 2, null, {
      timeout: WAIT_MS,
    });
    const violations = await page.evaluate(() => (window as Watched).__violations ?? []);
    assert.ok(
      violations.every((v) => v.startsWith("style-src")),
      `violations: ${violations.join(", ")}`,
    );
  });

  test("the policy names no 'unsafe-inline' style and forbids style attributes", async () => {
    const r = await fetch(`${sg.adminUrl}/ui`);
    await r.text();
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/]+={0,2}';/);
    assert.match(csp, /style-src-attr 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
  });
});
