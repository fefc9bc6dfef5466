// The dashboard of a 10,000-member pool in headless chromium. Each update used to ship the whole
// pool (2.4 MB of JSON a second) and the page kept a row per member and a legend line per
// member (190,000 DOM nodes; the first rows showed after 20 s, main-thread tasks of 4.8 s), and
// fetched the ring's drawing with every member listed (990 KB) on each ring change.
// Bounded by counts and bytes, not time: every update the page receives stays under
// MAX_UPDATE_BYTES, the page holds at most one page of member rows and a short legend, it keeps
// updating, pages through the members, and finds a drained member among the 10,000 with the
// "not taking requests" filter.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { assertChromiumPresent, launchHeadlessChromium } from "../support/headless-chromium.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { unansweredPoolYaml } from "../support/unanswered-pool-config.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(1616);
const MEMBERS = 10_000;
const TOKEN = "large-pool-token";
/** One update at 10 members is about 4 KB, one page of 100 members about 26 KB; the whole pool was 2.4 MB. */
const MAX_UPDATE_BYTES = 64 * 1024;
const MAX_ROWS = 100;
/** The ring's drawing: 1,440 sectors name up to 1,440 owners (198 KB); listing every member was 990 KB. */
const MAX_RING_BYTES = 256 * 1024;
const MAX_LEGEND = 21;
const WAIT_MS = 60_000;

/** 10,000 members on addresses nobody answers. */
function largePoolYaml(): string {
  return unansweredPoolYaml(TOKEN, MEMBERS, (i) => ({ id: `m${i}`, port: 1 + (i % 60_000) }));
}

function rowIds(page: Page): Promise<string[]> {
  return page.$$eval("#members tbody tr", (trs) => trs.map((tr) => tr.getAttribute("data-member") ?? ""));
}

async function memberOrder(adminUrl: string): Promise<string[]> {
  const state = (await (await fetch(`${adminUrl}/admin/state`)).json()) as {
    pools: Record<string, { members: Array<{ id: string }> }>;
  };
  return state.pools.big.members.map((m) => m.id);
}

describe(`dashboard of a ${MEMBERS}-member pool in headless chromium (${seedNote(SEED)})`, () => {
  let sg: RunningShardgate;
  let browser: Browser;
  let page: Page;
  const updates: number[] = [];
  const rings: number[] = [];
  /** The pool's member ids in /admin/state's order, which the pages follow. */
  let order: string[] = [];

  before(async () => {
    assertChromiumPresent();
    sg = await startShardgate(largePoolYaml());
    browser = await launchHeadlessChromium();
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.on("response", (r) => {
      const path = new URL(r.url()).pathname;
      if (path !== "/admin/dashboard" && path !== "/admin/ring") return;
      r.body().then(
        (b) => (path === "/admin/ring" ? rings : updates).push(b.length),
        () => {},
      );
    });
    await page.goto(`${sg.adminUrl}/ui`);
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
  });

  test("every update is one page of members, and the page holds one page of rows", async () => {
    await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length > 0, null, {
      timeout: WAIT_MS,
    });
    await page.waitForSelector("#legend li", { timeout: WAIT_MS });
    // The page keeps updating: three more answers after the first rows.
    const seen = updates.length;
    await eventually(
      "three more dashboard updates",
      () => (updates.length >= seen + 3 ? true : undefined),
      WAIT_MS,
    );
    const largest = Math.max(...updates);
    assert.ok(
      largest <= MAX_UPDATE_BYTES,
      `largest update ${largest} B of ${updates.length} > ${MAX_UPDATE_BYTES}`,
    );
    const rows = await rowIds(page);
    assert.ok(rows.length <= MAX_ROWS, `${rows.length} member rows`);
    order = await memberOrder(sg.adminUrl);
    assert.equal(order.length, MEMBERS);
    assert.deepEqual(rows, order.slice(0, rows.length), "the first page is the pool's first members");
    await eventually("the ring fetched", () => (rings.length > 0 ? true : undefined), WAIT_MS);
    assert.ok(Math.max(...rings) <= MAX_RING_BYTES, `ring answers ${rings.join(", ")} B`);
    const legend = await page.$$eval("#legend li", (lis) => lis.length);
    assert.ok(legend <= MAX_LEGEND, `${legend} legend lines`);
    const summary = await page.textContent("#pool-summary");
    assert.match(summary ?? "", new RegExp(`^${MEMBERS} members`));
  });

  test("next shows the following page of members", async () => {
    await page.click("#next");
    await page.waitForFunction(
      (want) => document.querySelector("#members tbody tr")?.getAttribute("data-member") === want,
      order[MAX_ROWS],
      { timeout: WAIT_MS },
    );
    assert.match((await page.textContent("#page-info")) ?? "", new RegExp(`^101-200 of ${MEMBERS}`));
  });

  test("a drained member is found among all of them with the not-taking-requests filter", async () => {
    const random = seededRandom(SEED);
    const id = pick(
      random,
      Array.from({ length: MEMBERS }, (_, i) => `m${i}`),
    );
    const r = await fetch(`${sg.adminUrl}/admin/pools/big/members/${id}/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.status, 200, await r.text());
    await page.check("#only-out");
    await page.waitForFunction(
      (want) => {
        const ids = [...document.querySelectorAll("#members tbody tr")].map((tr) =>
          tr.getAttribute("data-member"),
        );
        return ids.length === 1 && ids[0] === want;
      },
      id,
      { timeout: WAIT_MS },
    );
    const drain = await page.$eval(`#members tbody tr td:nth-child(5)`, (td) => td.textContent);
    assert.equal(drain, "draining", `${id}`);
    assert.ok(Math.max(...updates) <= MAX_UPDATE_BYTES, `largest update ${Math.max(...updates)} B`);
  });

  test("a bad page request gets a clear error", async () => {
    const r = await fetch(`${sg.adminUrl}/admin/dashboard?offset=-1`);
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { message: string }).message, /^offset: expected a whole number/);
    const s = await fetch(`${sg.adminUrl}/admin/dashboard?show=some`);
    assert.equal(s.status, 400);
    const p = await fetch(`${sg.adminUrl}/admin/dashboard?pool=nope`);
    assert.equal(p.status, 404);
    assert.equal(((await p.json()) as { error: string }).error, "unknown_pool");
  });
});
