// `shardgate --version` (and `shardgate version`), the first thing an operator types before an
// upgrade or in a bug report, answered 'unknown command "--version"' with exit 2. It now
// prints the package's version and Node's, exit 0: the version the shardgate_build_info gauge
// carries. Real `shardgate` processes. An argument after it is refused (exit 2) as any other
// command refuses an unknown flag.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

test("shardgate --version and shardgate version print the version, exit 0", async () => {
  for (const arg of ["--version", "version"]) {
    const r = await runShardgate([arg]);
    assert.equal(r.code, 0, `${arg}: ${r.stderr}`);
    assert.equal(r.stdout, `shardgate ${pkg.version} (node ${process.versions.node})\n`, arg);
    assert.equal(r.stderr, "", arg);
  }
  // Like every other command's unknown flag: refused, exit 2, nothing on stdout (it exited 0
  // with the version line before).
  for (const args of [
    ["version", "--bogus"],
    ["--version", "--json"],
    ["version", "extra"],
  ]) {
    const r = await runShardgate(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, "", args.join(" "));
    assert.match(r.stderr, /^shardgate version: unexpected argument "/, args.join(" "));
  }
  // Help, though, is answered as every command answers it (it was refused with exit 2).
  for (const args of [
    ["version", "--help"],
    ["--version", "-h"],
  ]) {
    const r = await runShardgate(args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^usage: shardgate version/, args.join(" "));
    assert.equal(r.stderr, "", args.join(" "));
  }
  const help = await runShardgate(["--help"]);
  assert.match(help.stdout, /^ {2}version +print the version \(also --version\)$/m);
});
