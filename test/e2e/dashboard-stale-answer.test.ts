// The dashboard page in headless chromium: an update asked for before the operator pressed
// "next" and answered after the next page's update. The page used to write every answer's page
// back as its own (state.offset = the answer's offset), so that late answer put the table back
// on the first page and every later poll asked for the first page: the click was lost.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page, Route } from "playwright-core";
import { assertChromiumPresent, launchHeadlessChromium } from "../support/headless-chromium.js";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const MEMBERS = 250;
const WAIT_MS = 30_000;

function yaml(): string {
  const lines = [
    "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }",
    "log: { accessLog: false }",
    "pools:",
    "  big:",
    "    members:",
  ];
  for (let i = 0; i < MEMBERS; i++)
    lines.push(`      - { id: m${String(i).padStart(3, "0")}, address: "127.0.0.1:${1 + i}" }`);
  lines.push("routes:", "  - { pool: big, key: [header:x-k] }");
  return `${lines.join("\n")}\n`;
}

function firstRow(page: Page): Promise<string | null> {
  return page.$eval("#members tbody", (tb) => tb.querySelector("tr")?.getAttribute("data-member") ?? null);
}

describe("dashboard: a late answer does not undo the operator's paging", () => {
  let sg: RunningShardgate;
  let browser: Browser;
  let page: Page;
  /** Offsets the page asked for, in order. */
  const asked: string[] = [];
  let hold = false;
  let held: Route | undefined;

  before(async () => {
    assertChromiumPresent();
    sg = await startShardgate(yaml());
    browser = await launchHeadlessChromium();
    page = await (await browser.newContext()).newPage();
    await page.route("**/admin/dashboard?*", (route) => {
      const offset = new URL(route.request().url()).searchParams.get("offset") ?? "";
      asked.push(offset);
      // The first update asked for the first page once holding starts is kept back.
      if (hold && held === undefined && offset === "0") {
        held = route;
        return;
      }
      return route.continue();
    });
    await page.goto(`${sg.adminUrl}/ui`);
  });
  after(async () => {
    await held?.continue().catch(() => {});
    await browser?.close();
    await sg?.stop();
  });

  test("the next page stays shown when the first page's answer arrives after it", async () => {
    await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 100, null, {
      timeout: WAIT_MS,
    });
    assert.equal(await firstRow(page), "m000");
    hold = true;
    await eventually("a first-page update held back", () => held, WAIT_MS);
    await page.click("#next");
    await page.waitForFunction(
      () => document.querySelector("#members tbody tr")?.getAttribute("data-member") === "m100",
      null,
      { timeout: WAIT_MS },
    );
    const before = asked.length;
    await (held as Route).continue();
    // Two more updates after the late answer: each asks for the page the operator chose.
    await eventually("two more updates", () => (asked.length >= before + 2 ? true : undefined), WAIT_MS);
    assert.deepEqual(asked.slice(before, before + 2), ["100", "100"], `asked: ${asked.join(",")}`);
    assert.equal(await firstRow(page), "m100");
  });
});
