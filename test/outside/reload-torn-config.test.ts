// A config file written in place (`cat > shardgate.yaml`, kubectl cp, an editor without atomic
// save) and reloaded while half written. Tried from the outside: the half, cut at a line end,
// parsed (a pool with fewer members) and the reload applied it, members gone fleet-wide. Now a
// file changed within the settle period (SHARDGATE_FILE_SETTLE_MS) is read only once it holds
// still, and one that keeps changing past the bound (SHARDGATE_FILE_SETTLE_MAX_MS) is refused
// with the running config kept. Only a file written in place (the inode last read) can be torn:
// one renamed into place is read at once, however recently it was written.

import assert from "node:assert/strict";
import { closeSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { keepWriting } from "../support/settling-file.js";
import {
  fetchJson,
  type LogLine,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

let upstreams: EchoUpstream[] = [];

/** Generous under load: the writer below must land within one settle period. */
const SETTLE_MS = scaled(1500);
const MAX_MS = scaled(4000);
const ENV = { SHARDGATE_FILE_SETTLE_MS: String(SETTLE_MS), SHARDGATE_FILE_SETTLE_MAX_MS: String(MAX_MS) };

/** Routes first, then the pool: a file cut after any member line is a valid config. */
function config(members: number, ca?: string): string {
  const lines = upstreams
    .slice(0, members)
    .map((u, i) => `      - { id: m${i + 1}, address: "127.0.0.1:${u.port}" }`);
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
pools:
  users:
    algorithm: ring
${ca === undefined ? "" : `    tls: { ca: "${ca}" }\n`}    members:
${lines.join("\n")}
`;
}

async function memberIds(sg: RunningShardgate): Promise<string[]> {
  const r = await fetchJson(`${sg.adminUrl}/admin/state`);
  assert.equal(r.status, 200, r.text);
  const body = r.body as { pools: Record<string, { members: Array<{ id: string }> }> };
  return body.pools.users.members.map((m) => m.id).sort();
}

const isOutcome = (l: LogLine) =>
  l.msg === "config reloaded" || String(l.msg).startsWith("config reload rejected");

before(async () => {
  upstreams = await startUpstreams(4);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

// Each case starts its own shardgate on its own config file and waits on that process's reload
// (the settle period, the bound): nothing is shared but the echo upstreams, so they run side by
// side. Their timed windows open after the starts, once the processes are idle.
describe("config reloads while files are being written", { concurrency: true }, () => {
  test("a config half written when SIGHUP comes is applied whole once the writer finishes", {
    timeout: 180_000,
  }, async () => {
    const sg = await startShardgate(config(2), { env: ENV });
    try {
      assert.deepEqual(await memberIds(sg), ["m1", "m2"]);
      const whole = config(4);
      // Cut after the line of m1: the half parses, a pool of one member.
      const cut = whole.indexOf("\n", whole.indexOf("id: m1")) + 1;
      const fd = openSync(sg.config.path, "w");
      try {
        writeSync(fd, whole.slice(0, cut));
        const from = sg.proc.lines.length;
        sg.proc.signal("SIGHUP");
        // The reload either waits for the file (and says so) or, as before, takes the half at
        // once; the rest is written after either, so the old way applies the half.
        await sg.proc.waitForLine(
          "the reload waiting for the file, or its outcome",
          (l) => isOutcome(l) || String(l.msg).includes("the reload waits for it to hold still"),
          undefined,
          from,
        );
        writeSync(fd, whole.slice(cut));
      } finally {
        closeSync(fd);
      }
      const outcome = await sg.proc.waitForLine("the reload's outcome", isOutcome, undefined, 0);
      assert.equal(outcome.msg, "config reloaded", sg.proc.output());
      assert.deepEqual(await memberIds(sg), ["m1", "m2", "m3", "m4"], sg.proc.output());
      const waited = sg.proc.lines.find((l) => l.msg === "the reload's files held still; read them whole");
      assert.deepEqual(waited?.files, [sg.config.path], sg.proc.output());
    } finally {
      await sg.stop();
    }
  });

  test("a config that keeps changing past the bound is refused and the running config kept", {
    timeout: 180_000,
  }, async () => {
    const sg = await startShardgate(config(2), { env: ENV });
    try {
      // A valid file, then a comment line every 100 ms: every look finds it changed.
      const writing = keepWriting(sg.config.path, config(4), 100);
      try {
        const from = sg.proc.lines.length;
        sg.proc.signal("SIGHUP");
        // Bounded: the reload answers within MAX_MS (plus one read); the wait is the harness's.
        const outcome = await sg.proc.waitForLine("the reload's outcome", isOutcome, undefined, from);
        assert.match(String(outcome.msg), /^config reload rejected/, sg.proc.output());
        assert.match(String(outcome.msg), /still being written after \d+ ms/, sg.proc.output());
        assert.match(String(outcome.msg), new RegExp(sg.config.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
      } finally {
        writing.stop();
      }
      assert.deepEqual(await memberIds(sg), ["m1", "m2"], sg.proc.output());
    } finally {
      await sg.stop();
    }
  });

  test("an upstream CA file that keeps changing past the bound refuses the reload naming the pool", {
    timeout: 180_000,
  }, async () => {
    const sg = await startShardgate(config(2), { env: ENV });
    const ca = join(sg.config.dir, "ca.pem");
    const writing = keepWriting(ca, "# a CA bundle being written\n", 100, (n) => `# line ${n}\n`);
    try {
      sg.config.write(config(4, ca));
      const from = sg.proc.lines.length;
      sg.proc.signal("SIGHUP");
      const outcome = await sg.proc.waitForLine("the reload's outcome", isOutcome, undefined, from);
      assert.match(String(outcome.msg), /^config reload rejected/, sg.proc.output());
      assert.match(
        String(outcome.msg),
        /pools\.users\.tls: .*ca\.pem: still being written after \d+ ms/,
        sg.proc.output(),
      );
      assert.deepEqual(await memberIds(sg), ["m1", "m2"], sg.proc.output());
    } finally {
      writing.stop();
      await sg.stop();
    }
  });

  test("a config renamed into place is read at once; written in place after that, it is waited for", {
    timeout: 180_000,
  }, async () => {
    // A settle period far longer than a reload of this file takes, even on a loaded machine: a
    // reload that waited for the renamed file could not answer within RENAMED_BOUND_MS.
    const SETTLE = 5000;
    const RENAMED_BOUND_MS = 4000;
    const env = { SHARDGATE_FILE_SETTLE_MS: String(SETTLE), SHARDGATE_FILE_SETTLE_MAX_MS: "20000" };
    const sg = await startShardgate(config(2), { env });
    try {
      const waits = (from: number) =>
        sg.proc.lines
          .slice(from)
          .filter((l) => String(l.msg).includes("the reload waits for it to hold still"));
      /** SIGHUP; the outcome line and the ms between "reloading config" and it (the process's clock). */
      const reload = async () => {
        const from = sg.proc.lines.length;
        sg.proc.signal("SIGHUP");
        const start = await sg.proc.waitForLine(
          "the reload's start",
          (l) => l.msg === "reloading config",
          undefined,
          from,
        );
        const outcome = await sg.proc.waitForLine("the reload's outcome", isOutcome, undefined, from);
        return { from, outcome, ms: Number(outcome.time) - Number(start.time) };
      };

      // Written beside it and renamed into place, just now: a new inode, whole by construction.
      const temp = `${sg.config.path}.next`;
      writeFileSync(temp, config(4));
      renameSync(temp, sg.config.path);
      const renamed = await reload();
      assert.equal(renamed.outcome.msg, "config reloaded", sg.proc.output());
      assert.deepEqual(waits(renamed.from), [], `a renamed file is not waited for: ${sg.proc.output()}`);
      assert.ok(
        renamed.ms < RENAMED_BOUND_MS,
        `the renamed file was read at once, not after the ${SETTLE} ms settle: the reload took ${renamed.ms} ms`,
      );
      assert.deepEqual(await memberIds(sg), ["m1", "m2", "m3", "m4"], sg.proc.output());

      // The same inode, now rewritten in place: it may be half written, so it is waited for.
      writeFileSync(sg.config.path, config(3));
      const inPlace = await reload();
      assert.equal(inPlace.outcome.msg, "config reloaded", sg.proc.output());
      assert.equal(waits(inPlace.from).length, 1, `the in-place write is waited for: ${sg.proc.output()}`);
      assert.deepEqual(await memberIds(sg), ["m1", "m2", "m3"], sg.proc.output());
    } finally {
      await sg.stop();
    }
  });
});
