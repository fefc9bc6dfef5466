// A misspelt key source in a route's `key` list ("qeury:tenant", "heder:x-user-id") said only
// what a key source looks like, while a misspelt config key gets "did you mean". The error now
// names the source it probably meant, argument included; a word near no source gets no guess.
// Real `shardgate validate` on a real file.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { TempConfig } from "../support/shardgate-process.js";

const config = new TempConfig(`pools:
  u:
    members: [{ id: a, address: 127.0.0.1:9101 }]
routes:
  - pool: u
    key: [heder:x-user-id, cokie:uid, qeury:tenant, pth:2, ipp, zzz:1, header:x-ok]
`);
after(() => config.remove());

test("a misspelt key source gets a did-you-mean naming the source it probably meant", async () => {
  const r = await runShardgate(["validate", "--config", config.path]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split("\n");
  const at = (i: number) =>
    lines.find((l) => l.includes(`routes[0].key[${i}]:`)) ?? `(no error for key[${i}])`;
  const meant = ["header:x-user-id", "cookie:uid", "query:tenant", "path:2", "ip"];
  meant.forEach((m, i) => {
    assert.match(at(i), /expected a key source: /, r.stderr);
    assert.ok(at(i).includes(`(did you mean "${m}"?)`), `key[${i}]: ${at(i)}`);
  });
  assert.match(at(5), /expected a key source: .*, found "zzz:1"$/);
  assert.doesNotMatch(at(5), /did you mean/);
  assert.equal(at(6), "(no error for key[6])");
  assert.match(r.stderr, /: 6 errors\n$/);
});
