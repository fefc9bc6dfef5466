// A flag value that starts with "-" (`--drain-timeout -5s`, `--keys -1`): node:util parseArgs
// refuses it with a three-line message, and every command printed it through its one-line
// error print as "...ambiguous.\x0aDid you forget...\x0aTo specify...". The message is now one
// readable line, exit 2, in each command that parses flags. Real `shardgate` processes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";

test("a flag value starting with '-' is refused on one readable line (start, validate, demo, ctl, ring)", async () => {
  const cases: Array<[string[], string]> = [
    [["start", "--config", "c.yaml", "--drain-timeout", "-5s"], "--drain-timeout"],
    [["validate", "--config", "c.yaml", "--workers", "-1"], "--workers"],
    [["demo", "--port", "-1"], "--port"],
    [["ctl", "--timeout", "-5s", "status"], "--timeout"],
    [["ring", "simulate", "--keys", "-1"], "--keys"],
  ];
  const runs = await Promise.all(cases.map(([args]) => runShardgate(args)));
  runs.forEach((r, i) => {
    const [args, flag] = cases[i];
    const what = `${args.join(" ")}: exit ${r.code}\n${r.stderr}`;
    assert.equal(r.code, 2, what);
    const first = r.stderr.split("\n")[0];
    assert.doesNotMatch(first, /\\x0a/, what);
    assert.match(
      first,
      new RegExp(`^shardgate ${args[0]}: Option '${flag}' argument is ambiguous\\. Did you forget`),
      what,
    );
    assert.match(first, new RegExp(`use '${flag}=-XYZ'\\.$`), what);
  });
});
