// listen.maxHeaderSize out of any sane range. Before, any size passed `validate` and `start`:
// `maxHeaderSize: 5gb` served until the first h2c client connected, whose session settings
// (SETTINGS are 32 bits) threw an uncaught RangeError that ended the process, so one request
// from anyone took the proxy down; `maxHeaderSize: 0` served HTTP/1.1 heads up to Node's own
// 16 KB default while every HTTP/2 request was answered 431. Both are now config errors naming
// the field and its bounds (1 KB to 8 MB, Envoy's for max_request_headers_kb); the bounds
// themselves start and serve both protocols. Real `shardgate validate` / `start` processes.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import { startShardgate, TempConfig } from "../support/shardgate-process.js";

const withHeaderSize = (size: string) =>
  `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0, maxHeaderSize: ${size} }\n${ONE_MEMBER_POOL}`;

const refused: ReadonlyArray<[string, string]> = [
  ["0", "at least 1024 bytes"],
  ["1023", "at least 1024 bytes"],
  ["5gb", "at most 8388608 bytes"],
  ["9mb", "at most 8388608 bytes"],
];

for (const [size, bound] of refused) {
  for (const cmd of ["validate", "start"]) {
    test(`${cmd} with listen.maxHeaderSize ${size}: exit 1 naming the field and "${bound}"`, async () => {
      const config = new TempConfig(withHeaderSize(size));
      after(() => config.remove());
      const r = await runShardgate([cmd, "--config", config.path], {}, 15_000);
      const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.match(r.stderr, /listen\.maxHeaderSize: expected a size like/, what);
      assert.ok(r.stderr.includes(bound), what);
      assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
    });
  }
}

for (const size of ["1kb", "8mb"]) {
  test(`listen.maxHeaderSize ${size} starts and answers HTTP/1.1 and h2c`, async (t) => {
    const sg = await startShardgate(withHeaderSize(size));
    t.after(() => sg.stop());
    // The member (port 9) refuses: 502, then 503 while it is skipped locally, is the proxy
    // routing the request, which is all this asks (a head refused would be 431).
    const h1 = await fetch(`${sg.httpUrl}/`, { headers: { "x-k": "a" } });
    await h1.arrayBuffer();
    assert.ok([502, 503].includes(h1.status), `HTTP/1.1 ${h1.status}`);
    const session = await h2Session(t, sg.httpUrl);
    const h2 = await h2Request(session, { headers: { "x-k": "a" } });
    assert.ok([502, 503].includes(h2.status), `h2c ${h2.status} ${h2.text}`);
    assert.equal(sg.proc.exit, undefined, `still running\n${sg.proc.output()}`);
  });
}
