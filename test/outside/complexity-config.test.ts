// Algorithmic complexity of one config: a `${...}` reference scan whose cost grew with the square
// of a value. The /\$\$\{|\$\{([^}]*)\}|\$\{/g scan (interpolate.ts and fast-yaml.ts) ran its
// `[^}]*` from every "${" on to the next "}", to the value's end when none followed: a value of
// 20,000 "${" (40 KB) took 4.7 s to refuse, 200,000 (400 KB, well inside the 8 MiB config cap)
// about 8 minutes, on `validate`, `start` and every reload alike. config/file/var-refs.ts reads
// the same references in one pass.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { replaceVarRefs } from "../../config/file/var-refs.js";
import { runShardgate } from "../support/ctl-runner.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { countWork } from "../support/work-counter.js";

const SEED = testSeed(1516);
const dir = mkdtempSync(join(tmpdir(), "shardgate-complexity-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function configWith(prefix: string): string {
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
pools:
  p:
    members:
      - { id: a, address: "127.0.0.1:1" }
routes:
  - { match: { pathPrefix: "${prefix}" }, pool: p, key: [ip] }
`;
}

describe("complexity: variable references in a config value", () => {
  it("`shardgate validate` refuses a 400 KB value of unclosed `${` with the path named, promptly", async () => {
    const file = join(dir, "refs.yaml");
    writeFileSync(file, configWith("${".repeat(200_000)));
    // runShardgate's deadline (30 s, scaled) is a hang bound, 30x what it takes now on a loaded
    // machine; the old scan took minutes here.
    const r = await runShardgate(["validate", "--config", file]);
    assert.equal(r.code, 1, r.stderr.slice(0, 500));
    assert.match(r.stderr, /routes\[0\]\.match\.pathPrefix/);
    assert.match(r.stderr, /bad variable reference/);
  });

  it("parsing does work linear in the number of references (counted, n and 10n)", () => {
    const work = (n: number) => {
      const { value, work } = countWork(() => parseConfig(configWith("${".repeat(n)), {}));
      assert.ok(!value.ok, "the unclosed references are refused");
      return work;
    };
    const small = work(2_000);
    const large = work(20_000);
    assert.ok(
      large / small <= 20,
      `${small} at 2,000 references, ${large} at 20,000: ${(large / small).toFixed(1)}x`,
    );
  });

  it("reads references exactly as the regex did (seeded strings of $, {, }, names, :-)", () => {
    const ref = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
    const alphabet = ["$", "{", "}", "a", ":-", "$$", "${", "_X"];
    const rand = seededRandom(SEED);
    const mark = (whole: string, inner: string | undefined) => `<${whole}|${inner}>`;
    for (let k = 0; k < 20_000; k++) {
      let text = "";
      const len = Math.floor(rand() * 14);
      for (let i = 0; i < len; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      assert.equal(
        replaceVarRefs(text, mark),
        text.replace(ref, (w: string, inner: string | undefined) => mark(w, inner)),
        `${seedNote(SEED)}: ${JSON.stringify(text)}`,
      );
    }
  });
});
