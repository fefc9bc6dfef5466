// The long-lived config load worker (config/file/load-off-thread.ts): loads follow the file as
// it changes, a load that overruns its deadline is refused and the next load still works, and
// a process that loaded a file exits on its own (the idle worker never holds it open).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile, loadConfigFileText } from "../../config/file/load.js";
import {
  loadConfigFileOffThread,
  loadWorkerRunning,
  seedConfigLoads,
} from "../../config/file/load-off-thread.js";
import type { ShardgateConfig } from "../../config/file/schema.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { scaled } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-offthread-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function pool(members: number): string {
  const lines: string[] = [];
  for (let i = 0; i < members; i++) lines.push(`      - { id: m${i}, address: "127.0.0.1:${1000 + i}" }`);
  return `pools:\n  p:\n    members:\n${lines.join("\n")}\nroutes:\n  - pool: p\n    key: [ip]\n`;
}

test("successive loads see each version of the file, and a bad one is refused with its error", async () => {
  assert.equal(loadWorkerRunning(), false, "no worker before the first load");
  const file = join(dir, "a.yaml");
  for (const n of [3, 4, 2]) {
    writeFileSync(file, pool(n));
    const r = await loadConfigFileOffThread(file, {});
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.equal(r.config.pools.p.members.length, n);
    assert.equal(loadWorkerRunning(), true, "the worker stays between loads");
  }
  writeFileSync(file, `${pool(2)}  - nonsense: [\n`);
  const bad = await loadConfigFileOffThread(file, {});
  assert.equal(bad.ok, false);
  writeFileSync(file, pool(5));
  const again = await loadConfigFileOffThread(file, {});
  assert.ok(again.ok);
  assert.equal(again.config.pools.p.members.length, 5);
});

test("a load over its deadline is refused, and the next load gets a working worker", async () => {
  const big = join(dir, "big.yaml");
  writeFileSync(big, pool(20_000));
  const slow = await loadConfigFileOffThread(big, {}, { timeoutMs: 1 });
  assert.equal(slow.ok, false);
  assert.ok(!slow.ok);
  assert.match(slow.errors[0].message, /longer than 1 ms/);
  const small = join(dir, "small.yaml");
  writeFileSync(small, pool(3));
  const r = await loadConfigFileOffThread(small, {});
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.equal(r.config.pools.p.members.length, 3);
});

test("a load after the idle worker was closed starts a new one", async () => {
  const file = join(dir, "idle.yaml");
  writeFileSync(file, pool(2));
  const a = await loadConfigFileOffThread(file, {}, { idleMs: 1 });
  assert.ok(a.ok);
  const deadline = Date.now() + scaled(30_000);
  while (loadWorkerRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(loadWorkerRunning(), false, "the idle worker was not closed");
  writeFileSync(file, pool(6));
  const b = await loadConfigFileOffThread(file, {}, { idleMs: 1 });
  assert.ok(b.ok, JSON.stringify(!b.ok && b.errors));
  assert.equal(b.config.pools.p.members.length, 6);
});

test("concurrent loads are answered in order, each with its own file", async () => {
  const files = [1, 2, 3, 4].map((n) => {
    const f = join(dir, `c${n}.yaml`);
    writeFileSync(f, pool(n));
    return f;
  });
  const results = await Promise.all(files.map((f) => loadConfigFileOffThread(f, {})));
  assert.deepEqual(
    results.map((r) => (r.ok ? r.config.pools.p.members.length : -1)),
    [1, 2, 3, 4],
  );
});

test("a process that loaded a file exits by itself: the idle worker does not keep it alive", async () => {
  const file = join(dir, "exit.yaml");
  writeFileSync(file, pool(3));
  const moduleUrl = new URL("../../config/file/load-off-thread.js", import.meta.url).href;
  const script =
    `const { loadConfigFileOffThread } = await import(${JSON.stringify(moduleUrl)});\n` +
    `const r = await loadConfigFileOffThread(${JSON.stringify(file)}, {});\n` +
    `console.log(r.ok ? "loaded" : "failed");\n`;
  const scriptFile = join(dir, "load-once.mjs");
  writeFileSync(scriptFile, script);
  const child = spawn(process.execPath, [scriptFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(out.trim(), "loaded");
  assert.equal(code, 0, "the process had to be killed: something held it open");
});

test("loads answered as member deltas equal inline loads over seeded random edits", async () => {
  const seed = testSeed(16_0615);
  const rnd = seededRandom(seed);
  const file = join(dir, "delta.yaml");
  // Two pools of [id, port] members, both over the delta threshold, edited at random places.
  const pools: Array<Array<[string, number]>> = [[], []];
  let next = 0;
  for (const p of pools) for (let i = 0; i < 100; i++) p.push([`m${next++}`, 1000 + (next % 60000)]);
  const text = (extraPool: boolean): string => {
    const body = pools
      .map(
        (p, k) =>
          `  p${k}:\n    members:\n${p.map(([id, port]) => `      - { id: ${id}, address: "127.0.0.1:${port}" }`).join("\n")}\n`,
      )
      .join("");
    const extra = extraPool ? `  small:\n    members:\n      - { id: s1, address: "127.0.0.1:999" }\n` : "";
    return `pools:\n${body}${extra}routes:\n  - pool: p0\n    key: [ip]\n`;
  };
  let previous: ShardgateConfig | null = null;
  for (let step = 0; step < 40; step++) {
    const why = `seed ${seed} step ${step}`;
    const p = pools[Math.floor(rnd() * 2)];
    const op = Math.floor(rnd() * 5);
    if (op === 0) p.splice(Math.floor(rnd() * p.length), 0, [`m${next++}`, 2000]);
    else if (op === 1 && p.length > 70) p.splice(Math.floor(rnd() * p.length), 1 + Math.floor(rnd() * 3));
    else if (op === 2) p[Math.floor(rnd() * p.length)][1] = 3000 + step;
    else if (op === 3) {
      // An invalid file in between (a duplicate id): refused, and the next delta still fits.
      writeFileSync(file, text(false).replace("id: m1,", "id: m0,").replace("id: m101,", "id: m100,"));
      const bad = await loadConfigFileOffThread(file, {});
      assert.equal(bad.ok, false, why);
    } else p.reverse();
    writeFileSync(file, text(step % 7 === 3));
    const off = await loadConfigFileOffThread(file, {});
    const inline = await loadConfigFile(file, {});
    assert.ok(off.ok && inline.ok, `${why}: ${JSON.stringify(!off.ok && off.errors)}`);
    assert.deepEqual(off.config, inline.config, why);
    // The delta path really ran: the members that stayed are the previous answer's objects.
    if (previous !== null && op !== 4) {
      const kept = previous.pools.p0.members.filter((m) => off.config.pools.p0.members.includes(m));
      assert.ok(kept.length >= 60, `${why}: ${kept.length} member objects kept from the previous load`);
    }
    previous = off.config;
  }
});

test("a new worker starts from the seed: its first load is a delta on the seeded config", async () => {
  const file = join(dir, "seeded.yaml");
  writeFileSync(file, pool(100));
  const start = await loadConfigFileText(file, {});
  assert.ok(start.result.ok && start.text !== null);
  seedConfigLoads(file, {}, start.text, start.result.config);
  // A fresh worker (idle 1 ms closes the current one), then the file gains a member.
  const deadline = Date.now() + scaled(30_000);
  await loadConfigFileOffThread(file, {}, { idleMs: 1 });
  while (loadWorkerRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(loadWorkerRunning(), false, "the idle worker closed");
  seedConfigLoads(file, {}, start.text, start.result.config);
  writeFileSync(file, pool(101));
  const r = await loadConfigFileOffThread(file, {});
  const inline = await loadConfigFile(file, {});
  assert.ok(r.ok && inline.ok);
  assert.deepEqual(r.config, inline.config);
  assert.equal(r.config.pools.p.members[0], start.result.config.pools.p.members[0], "seeded members reused");
});
