// The headless chromium the dashboard tests drive with playwright-core: the system's browser
// (CHROMIUM_PATH, else /usr/bin/chromium; playwright's own download is not used), started
// without sandbox or GPU, as a container allows.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Fails the hook at once, with how to install it, when there is no browser to drive. */
export function assertChromiumPresent(): void {
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
}

export function launchHeadlessChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    headless: true,
  });
}
