// The other algorithm's option in a pool (`pointsPerWeight` on a maglev pool, `tableSize` on a
// ring one, the default): `validate` passed it and the pool ignored it, while `shardgate ring
// simulate` refuses the same mix (`--points applies to --algorithm ring`) and the README lists
// it as RING_OPTION_MISMATCH. A file is now refused naming the field; each option on its own
// algorithm passes. Real `shardgate validate` processes.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { validateText } from "../support/ctl-runner.js";

const dir = mkdtempSync(join(tmpdir(), "sg-algorithm-option-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(pool: string): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
${pool}
    members:
      - { id: u1, address: 127.0.0.1:9101 }
routes:
  - { pool: users, key: [ip] }
`;
}

const validate = (text: string) => validateText(dir, text);

test("a pool's option for the other algorithm is refused naming it; its own passes", async () => {
  const [maglev, ringDefault, ring, ok1, ok2] = await Promise.all([
    validate(config("    algorithm: maglev\n    pointsPerWeight: 100")),
    validate(config("    tableSize: 65537")),
    validate(config("    algorithm: ring\n    tableSize: 101")),
    validate(config("    algorithm: maglev\n    tableSize: 101")),
    validate(config("    pointsPerWeight: 100")),
  ]);
  assert.equal(maglev.r.code, 1, maglev.what);
  assert.match(
    maglev.r.stderr,
    /pools\.users\.pointsPerWeight: pointsPerWeight applies to algorithm ring only, and this pool's algorithm is maglev/,
    maglev.what,
  );
  assert.equal(ringDefault.r.code, 1, ringDefault.what);
  assert.match(
    ringDefault.r.stderr,
    /pools\.users\.tableSize: tableSize applies to algorithm maglev only, and this pool's algorithm is ring \(the default\)/,
    ringDefault.what,
  );
  assert.equal(ring.r.code, 1, ring.what);
  assert.match(ring.r.stderr, /pools\.users\.tableSize: .*algorithm is ring: remove it/, ring.what);
  assert.equal(ok1.r.code, 0, ok1.what);
  assert.equal(ok2.r.code, 0, ok2.what);
});
