// A stop signal that lands while `shardgate start` is still starting. Tried from the outside
// (a CI run): a SIGTERM sent the instant the "listening" line appeared, before the running
// app had installed its handlers, met Node's default and ended the process at once, without
// its exit work: the data directory's LOCK stayed behind. Now start holds stop signals from
// its first line: the first becomes a drain as soon as the start completes (exit 0, LOCK
// removed), a second means "now" (exit 1, still through the exit handlers).
// The config file is a FIFO, so that start is held reading it for as long as the test needs.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { feedAndClose, fifoWriter } from "../support/fifo-config.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { ShardgateChild } from "../support/shardgate-process.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-stop-start-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = oneMemberConfig();

function startOnFifo(name: string): { child: ShardgateChild; config: string; data: string } {
  const config = join(dir, `${name}.yaml`);
  execFileSync("mkfifo", [config]);
  const data = join(dir, `${name}-data`);
  return { child: new ShardgateChild(["start", "--config", config, "--data-dir", data]), config, data };
}

test("SIGTERM during start: the start completes, drains at once, exits 0 and removes its LOCK", {
  timeout: 60_000,
}, async () => {
  const { child, config, data } = startOnFifo("term");
  try {
    const fd = await fifoWriter(config, "start reading the config FIFO");
    child.signal("SIGTERM");
    feedAndClose(fd, CONFIG);
    const exit = await child.waitExit(45_000);
    assert.deepEqual(exit, { code: 0, signal: null }, child.output());
    assert.match(
      child.stderr,
      /SIGTERM during start: stopping as soon as the start completes/,
      child.output(),
    );
    assert.ok(
      child.lines.some((l) => l.msg === "shutdown complete"),
      `the app started, then drained\n${child.output()}`,
    );
    assert.equal(existsSync(join(data, "LOCK")), false, "the drain's exit removed the lock");
  } finally {
    await child.stop();
  }
});

test("two stop signals during start: exit 1 at once, through the exit handlers (no LOCK left)", {
  timeout: 60_000,
}, async () => {
  const { child, config, data } = startOnFifo("twice");
  try {
    const fd = await fifoWriter(config, "start reading the config FIFO");
    child.signal("SIGTERM");
    child.signal("SIGINT");
    feedAndClose(fd, CONFIG);
    const exit = await child.waitExit(45_000);
    assert.deepEqual(exit, { code: 1, signal: null }, child.output());
    assert.match(
      child.stderr,
      /second stop signal \(SIG(INT|TERM)\) during start: exiting now/,
      child.output(),
    );
    assert.equal(existsSync(join(data, "LOCK")), false, "no lock left behind");
  } finally {
    await child.stop();
  }
});
