// The long-lived config load worker (config/file/load-off-thread.ts): loads follow the file as
// it changes, a load that overruns its deadline is refused and the next load still works, and
// a process that loaded a file exits on its own (the idle worker never holds it open).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFileOffThread, loadWorkerRunning } from "../../config/file/load-off-thread.js";

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
  const deadline = Date.now() + 30_000;
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
