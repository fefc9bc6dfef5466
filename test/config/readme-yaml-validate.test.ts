// Every YAML block of the README through the real `shardgate validate`, as a newcomer would
// run it: a complete example as written, a fragment (a section shown without `pools` or
// `routes`) completed with the minimal example's pools and routes, which fragments' routes
// name. Both must exit 0. test/outside/readme-config-examples.test.ts loads the blocks through
// the loader only; `validate` also runs start's checks (node id, cluster settings, TLS files).
// Checked: a typo put into the Redis fragment's `rateLimit` makes this test fail.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse, stringify } from "yaml";
import { runShardgate } from "../support/ctl-runner.js";
import { README_ENV, readmeYamlBlocks } from "../support/readme-blocks.js";

const dir = mkdtempSync(join(tmpdir(), "sg-readme-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("every README YAML block passes `shardgate validate` (fragments with the minimal file's pools and routes)", async () => {
  const blocks = readmeYamlBlocks();
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
    const r = await runShardgate(["validate", "--config", file], README_ENV);
    assert.equal(r.code, 0, `README.md line ${b.line}: validate exits ${r.code}\n${r.stderr}\n${text}`);
    assert.match(r.stdout, /^ok: \d+ pools, \d+ routes/);
  }
  assert.ok(fragments >= 1 && fragments < blocks.length);
});
