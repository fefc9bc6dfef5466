// An operator's config management sends SIGHUP to every shardgate at once, some of them still
// starting; or a loop sends twenty in a second. Tried from the outside: a SIGHUP during start
// found no handler yet and killed the process (exit by signal, Node's default). Now a SIGHUP
// during start becomes one reload once the app runs, and a storm of them is a series of
// serialized reloads: the process stays up and serves, and SIGTERM still exits 0.
// The config file is a FIFO at first, so that start is held (reading it) for as long as the
// test needs to signal it: a SIGHUP guaranteed to land inside start.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ShardgateChild } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-hup-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const STORM = 20;

const CONFIG = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  p:
    members:
      - { id: m1, address: 127.0.0.1:9 }
routes:
  - { pool: p, key: [header:x-k] }
`;

/** Hands CONFIG to the next reader of the FIFO, once one has it open (non-blocking polls). */
async function feedFifo(fifo: string, what: string): Promise<void> {
  const fd = await eventually(
    what,
    async () => {
      try {
        return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        return undefined; // ENXIO: nobody reads it yet
      }
    },
    45_000,
  );
  try {
    writeSync(fd, CONFIG);
  } finally {
    closeSync(fd);
  }
}

test("SIGHUP during start and a storm of SIGHUPs: no death, reloads applied, clean exit", {
  timeout: 120_000,
}, async () => {
  const config = join(dir, "shardgate.yaml");
  execFileSync("mkfifo", [config]);
  const data = join(dir, "data");
  const child = new ShardgateChild(["start", "--config", config, "--data-dir", data]);
  try {
    // A writer can open the FIFO once start reads it: start is under way, the app not running.
    const fd = await eventually(
      "start reading the config FIFO",
      async () => {
        try {
          return openSync(config, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch {
          return undefined; // ENXIO: nobody reads it yet
        }
      },
      45_000,
    );
    child.signal("SIGHUP");
    try {
      writeSync(fd, CONFIG);
    } finally {
      closeSync(fd);
    }
    await child.waitForLine("the listening line", (l) => l.msg === "listening", 45_000);
    // The held SIGHUP's reload reads the file again.
    await feedFifo(config, "the held SIGHUP's reload reading the FIFO");
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
