// shardgate's own error answers on the upgrade path carry what the same errors on a plain
// request carry, tried from the outside: a real shardgate process with `onMissingKey: cookie`
// and a ring-version header, one pool whose member refuses connections (502), one whose member
// accepts and never answers (504 at its response timeout), one whose only member is drained
// (503); each path asked once as a plain GET and once as a WebSocket handshake, raw.
// Found: the handshake's answers (written raw on the socket, no ServerResponse) had the
// X-Request-Id but no Set-Cookie and no ring-version header, so a browser whose first request
// is its WebSocket got no sticky id from a failed handshake and retried on a fresh random one.

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { freePorts } from "../support/ports.js";
import { type RawHead, readHead, WEBSOCKET_OFFER } from "../support/raw-upgrade.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const TOKEN = "websocket-error-headers-admin-token-0123";
/** Header lines every answer has or that differ by transport, not by what shardgate says. */
const TRANSPORT = new Set(["date", "connection", "keep-alive", "content-length", "transfer-encoding"]);

let silent: Server;
const held: Socket[] = [];
let sg: RunningShardgate;
let port = 0;

before(async () => {
  silent = createServer((s) => {
    s.on("error", () => undefined);
    held.push(s);
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const silentPort = (silent.address() as AddressInfo).port;
  // Free now, listened on by nobody: connections to them are refused. The plain request and
  // the handshake each get their own pool: a member that refused one connection is skipped
  // locally for a while (503 no_available_member), which would make the second answer another.
  const [closedA, closedB] = await freePorts(2);
  const pool = (name: string, address: string, extra = "") =>
    `  ${name}:\n    members: [{ id: ${name}1, address: "${address}" }]\n${extra}`;
  const route = (name: string) =>
    `  - match: { pathPrefix: /${name} }\n    pool: ${name}\n    key: [cookie:sg_key]\n    onMissingKey: cookie\n`;
  const timeouts = "    timeouts: { connect: 1s, response: 300ms }\n";
  const silentAddress = `127.0.0.1:${silentPort}`;
  const pools: Array<[string, string, string]> = [
    ["plain-refused", `127.0.0.1:${closedA}`, ""],
    ["up-refused", `127.0.0.1:${closedB}`, ""],
    ["plain-silent", silentAddress, timeouts],
    ["up-silent", silentAddress, timeouts],
    ["plain-drained", silentAddress, ""],
    ["up-drained", silentAddress, ""],
  ];
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
admin: { token: ${TOKEN} }
headers: { ringVersionHeader: x-ring-version }
pools:
${pools.map(([n, a, x]) => pool(n, a, x)).join("")}routes:
${pools.map(([n]) => route(n)).join("")}`);
  port = Number(new URL(sg.httpUrl).port);
  for (const name of ["plain-drained", "up-drained"]) {
    const drain = await fetch(`${sg.adminUrl}/admin/pools/${name}/members/${name}1/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(drain.status, 200, await drain.text());
  }
});

after(async () => {
  await stopAll();
  for (const s of held) s.destroy();
  await new Promise((r) => silent.close(r));
});

/** The path asked raw, as a plain GET or as a WebSocket handshake, with `requestId`. */
function ask(path: string, upgrade: boolean, requestId: string): Promise<RawHead> {
  const offer = upgrade ? WEBSOCKET_OFFER : "Host: a\r\n";
  return readHead(
    port,
    `GET ${path} HTTP/1.1\r\n${offer}x-request-id: ${requestId}\r\nConnection: close\r\n\r\n`,
  );
}

const names = (h: RawHead) => [...h.headers.keys()].filter((n) => !TRANSPORT.has(n)).sort();

for (const [kind, status, error] of [
  ["refused", 502, "upstream_connect_failed"],
  ["silent", 504, "upstream_timeout"],
  ["drained", 503, "no_available_member"],
] as const) {
  test(`${kind}: the handshake's ${status} carries the headers a plain ${status} carries`, {
    timeout: 60_000,
  }, async () => {
    const plain = await eventually(`the plain request to ${kind} answered ${status}`, async () => {
      const r = await ask(`/plain-${kind}`, false, `plain-${kind}`);
      return r.status === status ? r : undefined;
    });
    const up = await ask(`/up-${kind}`, true, `up-${kind}`);
    const what = `plain: ${JSON.stringify([...plain.headers])}\nupgrade: ${JSON.stringify([...up.headers])}`;
    assert.equal(up.status, status, what);
    assert.equal(JSON.parse(up.rest).error, error, `${what}\n${up.rest}`);
    assert.deepEqual(names(up), names(plain), what);
    assert.deepEqual(up.headers.get("x-request-id"), [`up-${kind}`], what);
    assert.match(up.headers.get("x-ring-version")?.[0] ?? "", /^\d+$/, what);
    assert.match(up.headers.get("set-cookie")?.[0] ?? "", /^sg_key=[^;]+;/, what);
    const line = await sg.proc.waitForLine(
      `the ${kind} handshake's access line`,
      (l) => l.requestId === `up-${kind}`,
    );
    assert.equal(line.status, status);
    assert.equal(line.error, error);
  });
}
