// A newcomer runs `npm start` in a fresh clone and pastes the command lines the demo prints.
// Found from the outside: the banner said `shardgate ctl ...`, which a fresh clone does not
// have on PATH (README: `npm link` puts it there), so the pasted line failed with "shardgate:
// not found". Every command line of the banner is run here as printed, in a shell whose PATH
// has node but no shardgate, from the directory the demo was started in.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { after, test } from "node:test";
import { ShardgateChild, stopAll } from "../support/shardgate-process.js";

after(stopAll);

const PATH = [dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(":");

function sh(script: string): { code: number | null; out: string } {
  const r = spawnSync("sh", ["-c", script], {
    env: { PATH, HOME: process.env.HOME ?? "/tmp" },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("every command line the fleet demo prints runs as printed", { timeout: 180_000 }, async () => {
  const demo = new ShardgateChild(["demo", "--port", "0", "--admin-port", "0", "--raft-port", "0"], {
    env: { PATH },
  });
  await demo.waitFor(
    "the demo's banner",
    () => (demo.textLines.some((l) => l.startsWith("Kill the leader")) ? true : undefined),
    120_000,
  );
  const lines = demo.textLines.map((l) => l.trim());
  const exportLine = lines.find((l) => l.startsWith("export SHARDGATE_ADMIN_TOKEN="));
  assert.ok(exportLine !== undefined, demo.output());
  const ctl = lines.filter((l) => / ctl --admin /.test(l));
  assert.equal(ctl.length, 2, `a drain and a status line:\n${demo.output()}`);
  const curls = lines.filter((l) => l.startsWith("curl -s ") && !l.includes("/drain"));
  assert.ok(curls.length >= 3, demo.output());
  for (const line of [...curls, ...ctl]) {
    const r = sh(`${exportLine}\n${line}`);
    assert.equal(r.code, 0, `the printed line failed as pasted:\n  ${line}\n${r.out}`);
  }
  // The status line runs after the drain line: the pool shows its one draining member.
  assert.match(sh(`${exportLine}\n${ctl[1]}`).out, /^demo\s+ring\s+\d+\s+4\s+3\s+1\s/m);
  demo.signal("SIGINT");
  assert.deepEqual(await demo.waitExit(30_000), { code: 0, signal: null }, demo.output());
});
