// Every YAML block in the README is something a newcomer pastes into a file. Each must load
// through the real config loader with the variables the README's own commands export: a
// complete example is valid as written, and a fragment (a section shown on its own) may lack
// only the top-level `pools` / `routes` it is shown without, never have a syntax error, an
// unknown key or a bad value. Found from the outside: the "Fleet agreement" example put
// `${CONSUL_HTTP_TOKEN}` unquoted inside a `{ }` flow map, a YAML syntax error.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { README_ENV, readmeYamlBlocks } from "../support/readme-blocks.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-readme-yaml-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("every README YAML block loads: complete ones are valid, fragments lack only pools/routes", async () => {
  const blocks = readmeYamlBlocks();
  assert.ok(blocks.length >= 5, `found only ${blocks.length} YAML blocks in the README`);
  let complete = 0;
  for (const [i, b] of blocks.entries()) {
    const file = join(dir, `block-${i}.yaml`);
    writeFileSync(file, b.text);
    const r = await loadConfigFile(file, README_ENV);
    if (r.ok) {
      complete++;
      continue;
    }
    const wrong = r.errors.filter(
      (e) => !((e.path === "pools" || e.path === "routes") && e.found.startsWith("nothing")),
    );
    assert.deepEqual(
      wrong.map((e) => `${e.path}: ${e.message}`),
      [],
      `README.md line ${b.line}: the example does not load\n${b.text}`,
    );
  }
  // The minimal file and the 3-node fleet file are complete; if none loads, the test proves little.
  assert.ok(complete >= 2, `only ${complete} complete examples loaded`);
});
