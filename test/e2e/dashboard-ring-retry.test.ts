// The dashboard page in headless chromium, against a real shardgate, with the page's requests to
// the admin port passed through playwright's router so that one answer can be held or failed.
// - "previous"/"next" clicked before the first update arrived read the page size from an update
//   not yet there: a TypeError in the page's console on each click.
// - A failed /admin/ring fetch was asked again only at the pool's next ring change, which a
//   static pool may never have: the ring stayed empty. Now it is asked again after 1 s, then
//   twice as long after each failure (up to 30 s), and drawn once an answer comes.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page, Route } from "playwright-core";
import { assertChromiumPresent, launchHeadlessChromium } from "../support/headless-chromium.js";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const WAIT_MS = 30_000;

const YAML = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { accessLog: false }
pools:
  p:
    members:
      - { id: m1, address: "127.0.0.1:1" }
      - { id: m2, address: "127.0.0.1:2" }
      - { id: m3, address: "127.0.0.1:3" }
routes:
  - { pool: p, key: [header:x-k] }
`;

/** A page whose uncaught exceptions and console errors are collected in `errors`. */
async function watchedPage(browser: Browser, errors: string[]): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return page;
}

describe("dashboard: paging before the first update, a failed ring fetch", () => {
  let sg: RunningShardgate;
  let browser: Browser;

  before(async () => {
    assertChromiumPresent();
    sg = await startShardgate(YAML);
    browser = await launchHeadlessChromium();
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
  });

  test("previous and next clicked before the first update throw nothing", async () => {
    const errors: string[] = [];
    const page = await watchedPage(browser, errors);
    let held: Route | undefined;
    await page.route("**/admin/dashboard?*", (route) => {
      if (held === undefined) {
        held = route;
        return;
      }
      return route.continue();
    });
    try {
      await page.goto(`${sg.adminUrl}/ui`);
      await eventually("the first update asked for and held", () => held, WAIT_MS);
      // force: the click is sent whether or not the page shows the buttons as usable.
      await page.click("#prev", { force: true });
      await page.click("#next", { force: true });
      await page.click("#next", { force: true });
      await (held as Route).continue();
      await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 3, null, {
        timeout: WAIT_MS,
      });
      assert.equal(await page.textContent("#page-info"), "1-3 of 3");
      assert.deepEqual(errors, []);
    } finally {
      await page.context().close();
    }
  });

  test("a failed ring fetch is asked again with a backoff and the ring is drawn", async () => {
    const errors: string[] = [];
    const page = await watchedPage(browser, errors);
    // Two failures show the backoff doubling (a gap of 1 s, then of 2 s); a third only added the
    // 4 s wait for the same doubling.
    const FAILS = 2;
    /** When each ring request was made (ms, page-side clock of the test process). */
    const asked: number[] = [];
    await page.route("**/admin/ring?*", (route) => {
      asked.push(performance.now());
      if (asked.length <= FAILS)
        return route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({ error: "injected", message: `ring fetch ${asked.length} failed` }),
        });
      return route.continue();
    });
    try {
      await page.goto(`${sg.adminUrl}/ui`);
      await eventually(
        "the ring caption names the first failure",
        async () =>
          (await page.textContent("#ring-caption"))?.includes("ring fetch 1 failed") ? true : undefined,
        WAIT_MS,
      );
      await page.waitForFunction(() => document.querySelectorAll("#ring path.arc").length > 0, null, {
        timeout: WAIT_MS,
      });
      assert.equal(asked.length, FAILS + 1, `ring requests: ${asked.length}`);
      // The page waits 1 s, then 2 s after the failures (retried at the first poll after that).
      const gaps = asked.slice(1).map((t, i) => t - (asked[i] as number));
      for (const [i, gap] of gaps.entries())
        assert.ok(
          gap >= 1000 * 2 ** i - 100,
          `gap ${i} is ${Math.round(gap)} ms, want >= ${1000 * 2 ** i}: ${gaps}`,
        );
      assert.match((await page.textContent("#ring-caption")) ?? "", /ring version/);
      // The rest of the update went on while the ring failed.
      assert.match((await page.textContent("#updated")) ?? "", /^updated /);
      assert.deepEqual(
        errors.filter((e) => !e.includes("503")),
        [],
      );
    } finally {
      await page.context().close();
    }
  });
  test("a wall clock stepped back after a failed ring fetch does not hold the retry", async () => {
    const errors: string[] = [];
    const page = await watchedPage(browser, errors);
    // The page's wall clock, steppable: Date.now() plus the test's skew (NTP stepping it back).
    await page.addInitScript(() => {
      const realNow = Date.now;
      const w = window as unknown as { __skewMs: number };
      w.__skewMs = 0;
      Date.now = () => realNow() + w.__skewMs;
    });
    let asked = 0;
    await page.route("**/admin/ring?*", (route) => {
      asked++;
      if (asked === 1)
        return route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({ error: "injected", message: "ring fetch failed" }),
        });
      return route.continue();
    });
    try {
      await page.goto(`${sg.adminUrl}/ui`);
      await eventually(
        "the ring caption names the failure",
        async () =>
          (await page.textContent("#ring-caption"))?.includes("ring fetch failed") ? true : undefined,
        WAIT_MS,
      );
      await page.evaluate(() => {
        (window as unknown as { __skewMs: number }).__skewMs = -3_600_000;
      });
      // Asked again after 1 s, not after the hour the clock went back.
      await page.waitForFunction(() => document.querySelectorAll("#ring path.arc").length > 0, null, {
        timeout: WAIT_MS,
      });
      assert.equal(asked, 2, `ring requests: ${asked}`);
      assert.deepEqual(
        errors.filter((e) => !e.includes("503")),
        [],
      );
    } finally {
      await page.context().close();
    }
  });
});
