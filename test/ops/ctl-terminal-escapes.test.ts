// `shardgate ctl` prints admin API strings into an operator's terminal, and the answer may come
// from anything `--admin` points at (a compromised instance, a wrong address, a proxy in the
// way). Real `ctl` processes against a real HTTP server on 127.0.0.1 answering the admin API's
// shapes with hostile strings: an OSC retitling the window (ESC ] 0; ... BEL), a CSI clearing
// the screen, a bare CR overwriting the row, a bidi override (U+202E), an 8-bit CSI (U+009B)
// and a 5,000-character id. The tables must show each as visible text (`\x1b`, `\u202e`), keep
// every column aligned and cut the long value; --json keeps the exact values.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";

const TITLE = "\u001b]0;owned\u0007";
const CLEAR = "\u001b[2J\u001b[H";
const HOSTILE_ID = `m1${TITLE}${CLEAR}`;
const CR_ADDRESS = "10.0.0.1:80\rINJECTED-OVER-THE-ROW";
const BIDI_ID = "m2\u202egpj.exe";
const C1_ID = "m3\u009b31m";
const LONG_ID = `m4${"x".repeat(5_000)}`;
/** Anything a terminal acts on, or that reorders the text after it. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function member(id: string, address: string) {
  return {
    id,
    address,
    weight: 1,
    healthy: true,
    draining: false,
    breakerOpen: false,
    breaker: "closed",
    breakerOverride: "auto",
    source: `consul${CLEAR}`,
  };
}

const STATE = {
  ringVersion: 7,
  pools: {
    users: {
      algorithm: "ring",
      ringVersion: 7,
      members: [
        member(HOSTILE_ID, "10.0.0.9:80"),
        member(BIDI_ID, CR_ADDRESS),
        member(C1_ID, "10.0.0.3:80"),
        member(LONG_ID, "10.0.0.4:80"),
      ],
    },
  },
  raft: {
    id: `a${TITLE}`,
    role: "leader",
    term: 3,
    leader: `a${TITLE}`,
    commitIndex: 9,
    appliedIndex: 9,
  },
  degraded: `quorum_lost\r${CLEAR}`,
};

const PEERS = {
  id: `a${TITLE}`,
  role: "leader",
  term: 3,
  leader: `a${TITLE}`,
  commitIndex: 9,
  appliedIndex: 9,
  lastIndex: 9,
  peers: [
    { id: `a${TITLE}`, role: "voter", address: CR_ADDRESS, self: true, connected: true, match: 9, lag: 0 },
    { id: BIDI_ID, role: "voter", address: "10.0.0.2:7000", self: false, connected: true, match: 9, lag: 0 },
  ],
};

/** Each table's rows: the column where `header` starts is where every row's cell starts. */
function assertAligned(text: string, header: string, what: string): void {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.includes(header) && /^[A-Z]/.test(l));
  assert.ok(at >= 0, `${what}: no header ${header}\n${text}`);
  const col = lines[at].indexOf(header);
  for (let i = at + 1; i < lines.length && lines[i] !== ""; i++) {
    if (/^[A-Z][A-Za-z ]+:/.test(lines[i])) break;
    assert.equal(lines[i][col - 1], " ", `${what}: row ${i} is not aligned under ${header}\n${text}`);
    assert.notEqual(lines[i][col], " ", `${what}: row ${i} has no cell under ${header}\n${text}`);
  }
}

test("ctl tables show hostile admin strings as inert text, aligned and cut", async (t) => {
  const server = http.createServer((req, res) => {
    const body =
      req.url === "/admin/state"
        ? STATE
        : req.url === "/admin/cluster/peers"
          ? PEERS
          : req.url === "/admin/live"
            ? { windowSeconds: 10, pools: {} }
            : undefined;
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify(body ?? { error: "not_found", message: "no" }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const members = await runCtl(["members", "users", "--admin", admin]);
  const what = `ctl members: exit ${members.code}\n${JSON.stringify(members.stdout)}\n${members.stderr}`;
  assert.equal(members.code, 0, what);
  assert.doesNotMatch(members.stdout, ACTIVE, what);
  assert.equal(members.stdout.trimEnd().split("\n").length, 5, `one line per member\n${what}`);
  for (const shown of [
    "m1\\x1b]0;owned\\x07\\x1b[2J",
    "10.0.0.1:80\\x0dINJECTED",
    "m2\\u202egpj.exe",
    "m3\\x9b31m",
  ])
    assert.ok(members.stdout.includes(shown), `${shown} shown escaped\n${what}`);
  assert.match(members.stdout, /m4x{100,}\.\.\.\(\d+ more\)/, `the long id is cut\n${what}`);
  assert.ok(
    members.stdout.split("\n").every((l) => l.length < 600),
    `no line carries the long id\n${what}`,
  );
  assertAligned(members.stdout, "HEALTHY", "ctl members");
  assertAligned(members.stdout, "SOURCE", "ctl members");

  const status = await runCtl(["status", "--admin", admin]);
  const swhat = `ctl status: exit ${status.code}\n${JSON.stringify(status.stdout)}\n${status.stderr}`;
  assert.equal(status.code, 0, swhat);
  assert.doesNotMatch(status.stdout, ACTIVE, swhat);
  assertAligned(status.stdout, "ROLE", "ctl status");
  assertAligned(status.stdout, "CONNECTED", "ctl status peers");

  // --json is the exact answer: the values survive, JSON-escaped.
  const json = await runCtl(["members", "users", "--admin", admin, "--json"]);
  const parsed = JSON.parse(json.stdout) as { members: Array<{ id: string; address: string }> };
  assert.deepEqual(
    parsed.members.map((m) => m.id),
    [HOSTILE_ID, BIDI_ID, C1_ID, LONG_ID],
  );
  assert.equal(parsed.members[1].address, CR_ADDRESS);
});
