// Byte limits whose 0 or tiny value passed `validate` and silently disabled what they bound.
// `redis.maxReplyBytes: 0` (or 1kb) made every Redis reply too large, the ready check's INFO
// at each connect included, so Redis was never usable; `admin.maxBodySize: 0` answered every
// admin POST with a body 413 (nginx reads 0 as "no limit"). Both are now config errors naming
// the field and the smallest value that works, and that value itself validates. Real
// `shardgate validate` / `start` processes; Redis is never dialled (port 1).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import { TempConfig } from "../support/shardgate-process.js";

const LISTEN = "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n";

interface Case {
  field: string;
  config: (size: string) => string;
  tooSmall: string[];
  floor: string;
  /** What the error says after the field; `expected at least <floor>` unless given. */
  says?: string;
}

const cases: Case[] = [
  {
    field: "redis.maxReplyBytes",
    config: (size) =>
      `${LISTEN}redis: { url: "redis://127.0.0.1:1", maxReplyBytes: ${size} }\n${ONE_MEMBER_POOL}`,
    tooSmall: ["0", "1kb", `${64 * 1024 - 1}`],
    floor: "64kb",
  },
  {
    field: "admin.maxBodySize",
    config: (size) => `${LISTEN}admin: { maxBodySize: ${size} }\n${ONE_MEMBER_POOL}`,
    tooSmall: ["0", "1023"],
    floor: "1kb",
  },
  {
    field: "routes[0].cache.maxBytes",
    config: (size) =>
      `${LISTEN}redis: { url: "redis://127.0.0.1:1" }\n${ONE_MEMBER_POOL.replace("[header:x-k] }", `[header:x-k], cache: { maxBytes: ${size} } }`)}`,
    tooSmall: ["0", "0kb"],
    floor: "1",
    says: "0 bytes stores only answers without a body",
  },
];

for (const c of cases) {
  for (const size of c.tooSmall) {
    for (const cmd of ["validate", "start"]) {
      test(`${cmd} with ${c.field} ${size}: exit 1 naming the field and its floor`, async () => {
        const config = new TempConfig(c.config(size));
        after(() => config.remove());
        const r = await runShardgate([cmd, "--config", config.path], {}, 15_000);
        const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
        assert.equal(r.code, 1, what);
        assert.ok(r.stderr.includes(`${c.field}: ${c.says ?? `expected at least ${c.floor}`}`), what);
        assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
      });
    }
  }

  test(`validate with ${c.field} at its floor passes`, async () => {
    const config = new TempConfig(c.config(c.floor));
    after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path], {}, 15_000);
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });
}
