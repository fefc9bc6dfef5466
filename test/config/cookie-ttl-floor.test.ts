// A cookie shardgate issues must outlive the response that sets it. Max-Age is whole seconds,
// and `routes[].cookie.ttl: 0` (or 500ms) passed `validate` and sent `Max-Age=0`: the browser
// drops such a cookie at once, so `onMissingKey: cookie` never stuck and nothing said why. Now
// a ttl under 1s is refused at load, naming the field, for the missing-key cookie and the
// affinity cookie alike; 1s and the default pass, and so does a route cookie that is never
// issued (no `onMissingKey: cookie`). Real `shardgate validate` processes.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { validateText } from "../support/ctl-runner.js";

const dir = mkdtempSync(join(tmpdir(), "sg-cookie-ttl-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(route: string): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
    members:
      - { id: u1, address: 127.0.0.1:9101 }
routes:
  - pool: users
    key: [cookie:sg_key]
${route}
`;
}

const validate = (text: string) => validateText(dir, text);

test("a cookie ttl under 1s is refused naming the field; 1s passes", async () => {
  const cases: Array<[string, string]> = [
    ["    onMissingKey: cookie\n    cookie: { ttl: 0 }", "routes[0].cookie.ttl"],
    ["    onMissingKey: cookie\n    cookie: { ttl: 500ms }", "routes[0].cookie.ttl"],
    ["    affinity: { cookie: { ttl: 999 } }", "routes[0].affinity.cookie.ttl"],
  ];
  const runs = await Promise.all(cases.map(([route]) => validate(config(route))));
  runs.forEach(({ r, what }, i) => {
    const [, path] = cases[i];
    assert.equal(r.code, 1, what);
    assert.match(
      r.stderr,
      new RegExp(`${path.replace(/[[\].]/g, "\\$&")}: a cookie ttl of \\d+ms is sent as Max-Age=0`),
      what,
    );
    assert.match(r.stderr, /at least 1s/, what);
  });
  const ok = await Promise.all([
    validate(config("    onMissingKey: cookie\n    cookie: { ttl: 1s }")),
    validate(config("    affinity: { cookie: { ttl: 1s } }")),
    validate(config("    onMissingKey: cookie")),
    // Never issued (only onMissingKey: cookie issues it): its ttl does nothing, and a file
    // that started before must still start.
    validate(config("    cookie: { ttl: 0 }")),
  ]);
  for (const { r, what } of ok) assert.equal(r.code, 0, what);
});
