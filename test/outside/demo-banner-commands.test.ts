// A newcomer runs `npm start` in a fresh clone and pastes the command lines the demo prints.
// Found from the outside: the banner said `shardgate ctl ...`, which a fresh clone does not
// have on PATH (README: `npm link` puts it there), so the pasted line failed with "shardgate:
// not found". Every command line of the banner is run here as printed, in a shell whose PATH
// has node but no shardgate, from the directory the demo was started in.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { newcomerSh as sh, startDemo } from "../support/demo-shell.js";
import { stopAll } from "../support/shardgate-process.js";

after(stopAll);

test("every command line the fleet demo prints runs as printed", { timeout: 180_000 }, async () => {
  const { demo, lines } = await startDemo();
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
