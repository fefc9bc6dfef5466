// The overload guard (proxy/server/overload.ts) in a real process, on its real memory readings:
// under load V8 grows its young generation (new space) to its cap and touches all of it, and the
// guard must count that. A child takes the guard's first sample at start, as a serving process
// does, then allocates as a loaded proxy does (short-lived objects, with a window of them alive
// across collections, as requests in flight are), and prints what the guard read before and after.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { scaled } from "../support/wait.js";

const MB = 1024 * 1024;

interface Reading {
  rssGrew: number;
  heldGrew: number;
  youngGrew: number;
}

function loadedChild(flags: string[]): Reading {
  const overload = new URL("../../proxy/server/overload.js", import.meta.url).href;
  const script = `
    const v8 = require("node:v8");
    import(${JSON.stringify(overload)}).then(({ OverloadGuard, readMemory }) => {
      const limit = 4096 * 1048576;
      const guard = new OverloadGuard({ rssLimit: limit, shedAt: 0.85, refuseAt: 0.95, sample: readMemory });
      const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").physical_space_size;
      guard.check();
      const before = { rss: process.memoryUsage.rss(), held: guard.usage * limit, young: young() };
      const window = new Array(20000);
      let n = 0;
      const end = Date.now() + 1500;
      while (Date.now() < end && n < 3e8) {
        for (let i = 0; i < 1e5; i++, n++) window[n % window.length] = { n, pair: [n, n + 1] };
      }
      guard.check();
      console.log(JSON.stringify({
        rssGrew: process.memoryUsage.rss() - before.rss,
        heldGrew: guard.usage * limit - before.held,
        youngGrew: young() - before.young,
      }));
    });`;
  const out = execFileSync(process.execPath, [...flags, "-e", script], {
    encoding: "utf8",
    timeout: scaled(60_000),
  });
  return JSON.parse(out.trim()) as Reading;
}

for (const flags of [["--min-semi-space-size=16"], ["--max-semi-space-size=64"]]) {
  test(`a young generation grown and touched under load counts as held (node ${flags.join(" ")})`, () => {
    const r = loadedChild(flags);
    const figures = Object.entries(r)
      .map(([k, v]) => `${k} ${(v / MB).toFixed(1)} MB`)
      .join(", ");
    assert.ok(r.youngGrew >= 16 * MB, `the load grew the young generation (premise): ${figures}`);
    // What else the RSS gained (V8's malloc'd zones, code) is not the guard's to see: a margin.
    assert.ok(r.heldGrew >= r.rssGrew - 12 * MB, `the guard counted the RSS the load added: ${figures}`);
  });
}
