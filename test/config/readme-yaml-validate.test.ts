// Every YAML block of the README through the real `shardgate validate`, as a newcomer would
// run it: a complete example as written, a fragment (a section shown without `pools` or
// `routes`) completed with the minimal example's pools and routes, which fragments' routes
// name. Both must exit 0. test/outside/readme-config-examples.test.ts loads the blocks through
// the loader only; `validate` also runs start's checks (node id, cluster settings, TLS files).
// Checked: a typo put into the Redis fragment's `rateLimit` makes this test fail.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse, stringify } from "yaml";
import { runShardgate } from "../support/ctl-runner.js";

const dir = mkdtempSync(join(tmpdir(), "sg-readme-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What the README's own commands export before they start anything. */
const ENV: Record<string, string> = {
  SHARDGATE_ADMIN_TOKEN: "dev",
  SHARDGATE_CLUSTER_SECRET: "0123456789abcdef0123456789abcdef",
  HTTP_PORT: "8081",
  ADMIN_PORT: "9901",
  HOSTNAME: "shardgate-0",
  POD_IP: "10.0.0.7",
  CONSUL_HTTP_TOKEN: "a-consul-token",
};

function readmeBlocks(): Array<{ line: number; text: string }> {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => ({
    line: readme.slice(0, m.index).split("\n").length + 1,
    text: m[1],
  }));
}

test("every README YAML block passes `shardgate validate` (fragments with the minimal file's pools and routes)", async () => {
  const blocks = readmeBlocks();
  assert.ok(blocks.length >= 5, `found only ${blocks.length} YAML blocks in the README`);
  // The first block is the minimal file ("works as written"): its pools and routes complete the fragments.
  const minimal = parse(blocks[0].text) as { pools: unknown; routes: unknown };
  assert.ok(
    minimal.pools !== undefined && minimal.routes !== undefined,
    "the first block is not the minimal file",
  );
  let fragments = 0;
  for (const [i, b] of blocks.entries()) {
    const doc = parse(b.text) as Record<string, unknown>;
    assert.ok(doc !== null && typeof doc === "object", `README.md line ${b.line}: not a mapping`);
    let text = b.text;
    if (doc.pools === undefined || doc.routes === undefined) {
      fragments++;
      text = stringify({ ...doc, pools: doc.pools ?? minimal.pools, routes: doc.routes ?? minimal.routes });
    }
    const file = join(dir, `block-${i}.yaml`);
    writeFileSync(file, text);
    const r = await runShardgate(["validate", "--config", file], ENV);
    assert.equal(r.code, 0, `README.md line ${b.line}: validate exits ${r.code}\n${r.stderr}\n${text}`);
    assert.match(r.stdout, /^ok: \d+ pools, \d+ routes/);
  }
  assert.ok(fragments >= 1 && fragments < blocks.length);
});
