// The dashboard page in headless chromium while reloads change the pools under it: a pool
// shrunk below the page shown moves the page to its last page, and a pool removed while shown
// gives way to the first pool by name, the page still updating; the "not taking requests"
// filter shows none when its last member comes back, and the next one when another goes.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { assertChromiumPresent, launchHeadlessChromium } from "../support/headless-chromium.js";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";

const TOKEN = "dashboard-pool-reload-token";
const WAIT_MS = 30_000;

/** Pools named by their member counts; members on addresses nobody answers. */
function yaml(pools: Record<string, number>): string {
  const lines = [
    "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }",
    `admin: { token: "${TOKEN}" }`,
    "log: { accessLog: false }",
    "pools:",
  ];
  for (const [name, n] of Object.entries(pools)) {
    lines.push(`  ${name}:`, "    members:");
    for (let i = 0; i < n; i++)
      lines.push(`      - { id: ${name}${String(i).padStart(3, "0")}, address: "127.0.0.1:${1 + i}" }`);
  }
  lines.push("routes:");
  for (const name of Object.keys(pools))
    lines.push(`  - { match: { pathPrefix: /${name} }, pool: ${name}, key: [header:x-k] }`);
  return `${lines.join("\n")}\n`;
}

function shown(page: Page): Promise<{ first: string | null; rows: number; info: string; pool: string }> {
  return page.evaluate(() => {
    const trs = document.querySelectorAll("#members tbody tr");
    return {
      first: trs[0]?.getAttribute("data-member") ?? null,
      rows: trs.length,
      info: document.getElementById("page-info")?.textContent ?? "",
      pool: (document.getElementById("pool") as HTMLSelectElement).value,
    };
  });
}

async function waitShown(page: Page, want: { first: string; rows: number; pool: string }): Promise<void> {
  await page.waitForFunction(
    (w) => {
      const trs = document.querySelectorAll("#members tbody tr");
      return (
        trs.length === w.rows &&
        trs[0]?.getAttribute("data-member") === w.first &&
        (document.getElementById("pool") as HTMLSelectElement).value === w.pool
      );
    },
    want,
    { timeout: WAIT_MS },
  );
}

describe("dashboard: reloads that change the pool shown", () => {
  let sg: RunningShardgate;
  let browser: Browser;
  let page: Page;

  async function post(path: string): Promise<void> {
    const r = await fetch(`${sg.adminUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.status, 200, await r.text());
  }

  async function reload(pools: Record<string, number>): Promise<void> {
    sg.config.write(yaml(pools));
    const r = await fetch(`${sg.adminUrl}/admin/reload`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.status, 200, await r.text());
  }

  before(async () => {
    assertChromiumPresent();
    sg = await startShardgate(yaml({ a: 250, b: 5 }));
    browser = await launchHeadlessChromium();
    page = await (await browser.newContext()).newPage();
    await page.goto(`${sg.adminUrl}/ui`);
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
  });

  test("a pool shrunk below the page shown shows its last page", async () => {
    await waitShown(page, { first: "a000", rows: 100, pool: "a" });
    await page.click("#next");
    await waitShown(page, { first: "a100", rows: 100, pool: "a" });
    await page.click("#next");
    await waitShown(page, { first: "a200", rows: 50, pool: "a" });
    await reload({ a: 120, b: 5 });
    await waitShown(page, { first: "a100", rows: 20, pool: "a" });
    assert.equal((await shown(page)).info, "101-120 of 120");
    await page.click("#prev");
    await waitShown(page, { first: "a000", rows: 100, pool: "a" });
  });

  test("a pool removed while shown gives way to the first pool, and the page keeps updating", async () => {
    await page.selectOption("#pool", "b");
    await waitShown(page, { first: "b000", rows: 5, pool: "b" });
    await reload({ a: 120 });
    await waitShown(page, { first: "a000", rows: 100, pool: "a" });
    await reload({ a: 120, c: 3 });
    await page.waitForFunction(() => document.querySelectorAll("#pool option").length === 2, null, {
      timeout: WAIT_MS,
    });
    const s = await shown(page);
    assert.deepEqual(
      { pool: s.pool, first: s.first, info: s.info },
      { pool: "a", first: "a000", info: "1-100 of 120" },
    );
    assert.doesNotMatch(await page.$eval("#updated", (e) => e.textContent ?? ""), /not updating/);
  });

  test("the not-taking-requests filter when its last member comes back, then another goes", async () => {
    await page.check("#only-out");
    await post("/admin/pools/a/members/a007/drain");
    await waitShown(page, { first: "a007", rows: 1, pool: "a" });
    await post("/admin/pools/a/members/a007/undrain");
    await page.waitForFunction(
      () =>
        document.querySelectorAll("#members tbody tr").length === 0 &&
        document.getElementById("page-info")?.textContent === "none of 0 not taking requests",
      null,
      { timeout: WAIT_MS },
    );
    assert.deepEqual(
      await page.evaluate(() => [
        (document.getElementById("prev") as HTMLButtonElement).disabled,
        (document.getElementById("next") as HTMLButtonElement).disabled,
      ]),
      [true, true],
    );
    await post("/admin/pools/a/members/a042/drain");
    await waitShown(page, { first: "a042", rows: 1, pool: "a" });
    await post("/admin/pools/a/members/a042/undrain");
  });
});
