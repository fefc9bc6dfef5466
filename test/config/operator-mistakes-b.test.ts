// Operator mistakes that passed silently or with an error that did not say what was meant,
// each through a real `shardgate validate` (and `start`, for the environment) process:
// - a listener or member address given as a port alone (`http: 8080`, `":9901"`): the error
//   said what an address is, now it also offers the address probably meant;
// - a one-character admin.token was accepted: at least 16 bytes now, and the error gives the
//   length, never the token;
// - `key: [header:]` and `key: [header: x-user-id]` are YAML mappings and the error said
//   "found a mapping": it now says what is missing and shows the string meant;
// - SHARDGATE_FAULT_INJECTION=on or =TRUE left fault injection off without a word, and
//   SHARDGATE_BOOTSTRAP=yes (or =join) passed without a cluster: section: both are refused.
// A test's processes run side by side: each is a node start-up that mostly waits on loading.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";

const dir = mkdtempSync(join(tmpdir(), "sg-operator-mistakes-b-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "0123456789abcdef" }
pools:
  users:
    members:
      - { id: u1, address: 127.0.0.1:9101 }
routes:
  - pool: users
    key: [header:x-user-id, ip]
`;

let n = 0;
async function validate(text: string, env: Record<string, string> = {}, cmd = "validate") {
  const file = join(dir, `c${n++}.yaml`);
  writeFileSync(file, text);
  const r = await runShardgate([cmd, "--config", file], env);
  return { file, r, what: `${cmd}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}` };
}

/** The one error line of a failed validate, after "file:". */
async function oneError(text: string): Promise<string> {
  const { file, r, what } = await validate(text);
  assert.equal(r.code, 1, what);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.at(-1), `${file}: 1 error`, what);
  assert.ok(lines[0].startsWith(file), what);
  return lines[0].slice(file.length);
}

// The tests, too, run side by side: each writes its own files (validate() numbers them).
describe("operator mistakes", { concurrency: true }, () => {
  test("the example itself is valid (a 16-byte admin token passes)", async () => {
    const { r, what } = await validate(GOOD);
    assert.equal(r.code, 0, what);
  });

  test("an address given as a port alone gets the address it probably meant", async () => {
    const cases: Array<[string, string]> = [
      [
        GOOD.replace("http: 127.0.0.1:0,", "http: 8080,"),
        ':1:17: listen.http: expected an address "host:port" (IPv6 in brackets: "[::1]:8080"), port 0-65535, found 8080, a port with no host: did you mean "0.0.0.0:8080" (or "127.0.0.1:8080")?',
      ],
      [
        GOOD.replace("admin: 127.0.0.1:0 }", 'admin: ":9901" }'),
        ':1:37: listen.admin: expected an address "host:port" (IPv6 in brackets: "[::1]:8080"), port 0-65535, found ":9901", a port with no host: did you mean "0.0.0.0:9901" (or "127.0.0.1:9901")?',
      ],
      [
        GOOD.replace("address: 127.0.0.1:9101", "address: 9101"),
        ':6:28: pools.users.members[0].address: expected an address "host:port" (IPv6 in brackets: "[::1]:8080"), port 1-65535, found 9101, a port with no host: did you mean "127.0.0.1:9101" (or "HOST:9101")?',
      ],
    ];
    await Promise.all(cases.map(async ([text, expected]) => assert.equal(await oneError(text), expected)));
  });

  test("a short admin.token is refused naming the field and its length, never the token", async () => {
    const empty = validate(GOOD.replace('"0123456789abcdef"', '""'));
    await Promise.all(
      ["x", "fifteen-bytes!!"].map(async (token) => {
        const line = await oneError(GOOD.replace('"0123456789abcdef"', `"${token}"`));
        const bytes = Buffer.byteLength(token);
        assert.equal(
          line,
          `:2:17: admin.token: admin token too short: expected a token of at least 16 bytes (e.g. openssl rand -hex 16), or "" to disable the mutating admin endpoints, found ${bytes} byte${bytes === 1 ? "" : "s"}`,
        );
        assert.ok(!line.includes(`"${token}"`), line);
      }),
    );
    const { r, what } = await empty;
    assert.equal(r.code, 0, `an empty token still disables the endpoints: ${what}`);
  });

  test('a key source written "header:" or "header: name" says what YAML made of it', async () => {
    const EXPECTED =
      'expected a key source: "header:NAME", "cookie:NAME", "query:NAME", "path:N" (N >= 1) or "ip"';
    const cases: Array<[string, string]> = [
      [
        "[header:, ip]",
        `:9:11: routes[0].key[0]: ${EXPECTED} ("header:" needs a name, e.g. "header:x-user-id"), found "header:" with nothing after it, which YAML reads as a mapping`,
      ],
      [
        "[ip, path:]",
        `:9:15: routes[0].key[1]: ${EXPECTED} ("path:" needs a segment number, e.g. "path:2"), found "path:" with nothing after it, which YAML reads as a mapping`,
      ],
      [
        "[header: x-user-id]",
        `:9:11: routes[0].key[0]: ${EXPECTED} (did you mean "header:x-user-id"?), found "header: x-user-id" with a space after the colon, which YAML reads as a mapping`,
      ],
      [
        "[ip:]",
        `:9:11: routes[0].key[0]: ${EXPECTED} (write "ip", without a colon), found "ip:", which YAML reads as a mapping`,
      ],
    ];
    await Promise.all(
      cases.map(async ([key, expected]) =>
        assert.equal(await oneError(GOOD.replace("[header:x-user-id, ip]", key)), expected),
      ),
    );
  });

  test("SHARDGATE_FAULT_INJECTION outside the documented values: validate and start exit 1 naming it", async () => {
    const refused = ["on", "TRUE", "enabled"].flatMap((v) =>
      ["validate", "start"].map(async (cmd) => {
        const { r, what } = await validate(GOOD, { SHARDGATE_FAULT_INJECTION: v }, cmd);
        assert.equal(r.code, 1, what);
        assert.ok(
          r.stderr.includes(
            `SHARDGATE_FAULT_INJECTION: expected "1", "true" or "yes" (on), or "0", "false", "no" or unset (off), got "${v}"`,
          ),
          what,
        );
        assert.ok(!r.stdout.includes('"msg":"listening"'), `start did not serve: ${what}`);
      }),
    );
    const accepted = ["1", "true", "yes", "0", "false", "no", ""].map(async (v) => {
      const { r, what } = await validate(GOOD, { SHARDGATE_FAULT_INJECTION: v });
      assert.equal(r.code, 0, `${JSON.stringify(v)}: ${what}`);
    });
    await Promise.all([...refused, ...accepted]);
  });

  test("SHARDGATE_BOOTSTRAP without a cluster: section: a bad value and join are refused", async () => {
    const cases: Array<[string, string]> = [
      ["yes", 'SHARDGATE_BOOTSTRAP: expected "new" or "join", got "yes"'],
      ["join", 'SHARDGATE_BOOTSTRAP: "join" needs a cluster: section with peers to join'],
    ];
    const refused = cases.flatMap(([v, expected]) =>
      ["validate", "start"].map(async (cmd) => {
        const { r, what } = await validate(GOOD, { SHARDGATE_BOOTSTRAP: v }, cmd);
        assert.equal(r.code, 1, what);
        assert.ok(r.stderr.includes(expected), what);
        assert.ok(!r.stdout.includes('"msg":"listening"'), `start did not serve: ${what}`);
      }),
    );
    const accepted = ["new", ""].map(async (v) => {
      const { r, what } = await validate(GOOD, { SHARDGATE_BOOTSTRAP: v });
      assert.equal(r.code, 0, `${JSON.stringify(v)}: ${what}`);
    });
    await Promise.all([...refused, ...accepted]);
  });
});
