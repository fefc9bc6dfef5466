// An operator's config management sends SIGHUP to every shardgate at once, some of them still
// starting; or a loop sends twenty in a second. Tried from the outside: a SIGHUP during start
// found no handler yet and killed the process (exit by signal, Node's default). Now a SIGHUP
// during start becomes one reload once the app runs, and a storm of them is a series of
// serialized reloads: the process stays up and serves, and SIGTERM still exits 0.
// The config file is a FIFO at first, so that start is held (reading it) for as long as the
// test needs to signal it: a SIGHUP guaranteed to land inside start.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { feedAndClose, fifoWriter } from "../support/fifo-config.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { ShardgateChild } from "../support/shardgate-process.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-hup-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const STORM = 20;

const CONFIG = oneMemberConfig();

test("SIGHUP during start and a storm of SIGHUPs: no death, reloads applied, clean exit", {
  timeout: 120_000,
}, async () => {
  const config = join(dir, "shardgate.yaml");
  execFileSync("mkfifo", [config]);
  const data = join(dir, "data");
  const child = new ShardgateChild(["start", "--config", config, "--data-dir", data]);
  try {
    // A writer can open the FIFO once start reads it: start is under way, the app not running.
    const fd = await fifoWriter(config, "start reading the config FIFO");
    child.signal("SIGHUP");
    feedAndClose(fd, CONFIG);
    await child.waitForLine("the listening line", (l) => l.msg === "listening", 45_000);
    // The held SIGHUP's reload reads the file again.
    feedAndClose(await fifoWriter(config, "the held SIGHUP's reload reading the FIFO"), CONFIG);
    await child.waitForLine(
      "the reload of the SIGHUP held during start",
      (l) => l.msg === "config reloaded" && l.trigger === "SIGHUP during start",
      30_000,
    );
    // A regular file from here on: every reload of the storm reads it.
    unlinkSync(config);
    writeFileSync(config, CONFIG);
    assert.equal(child.exit, undefined, child.output());
    const before = child.lines.filter((l) => l.msg === "config reloaded").length;
    for (let i = 0; i < STORM; i++) {
      child.signal("SIGHUP");
      await new Promise((r) => setTimeout(r, 50));
    }
    await child.waitFor(
      "a reload after the storm",
      () => (child.lines.filter((l) => l.msg === "config reloaded").length > before ? true : undefined),
      30_000,
    );
    assert.equal(child.exit, undefined, `alive after ${STORM} SIGHUPs\n${child.output()}`);
    assert.deepEqual(
      child.lines.filter((l) => l.msg === "reload failed"),
      [],
      "no reload failed",
    );
  } finally {
    const exit = await child.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, child.output());
  }
});
