// shardgate's member and ring-version headers on a WebSocket's answer when the config spells
// them with capitals (`memberHeader: X-Member`, as most READMEs write header names) and the
// member sends the same header itself, tried from the outside: a real shardgate process in
// front of a raw member that answers the upgrade with its own X-Member and X-Ring-Version.
// Found: the 101 and the member's refusal carried both: the member's line and shardgate's.
// The headers object Node parses has lower-case names, and ownHeaders added the configured
// spelling beside the member's; http-proxy-3 writes the upgrade's answer from that object
// as it is (a plain answer goes through setHeader, which is case-insensitive). A client
// reading the first line saw what the member claimed, not the member shardgate chose.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { after, before, test } from "node:test";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const HANDSHAKE =
  "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
const MEMBER_OWN = "X-Member: spoofed\r\nX-Ring-Version: 999\r\n";

let member: Server;
/** The member's upgraded sockets: outside its server's connection tracking, closed in after(). */
const upgraded = new Set<Duplex>();
let sg: RunningShardgate;
let port = 0;

before(async () => {
  member = createServer((_req, res) => res.end("plain"));
  member.on("upgrade", (req, socket) => {
    upgraded.add(socket);
    socket.on("error", () => undefined);
    if (req.url?.startsWith("/refused")) {
      socket.end(
        `HTTP/1.1 426 Upgrade Required\r\n${MEMBER_OWN}content-length: 0\r\nconnection: close\r\n\r\n`,
      );
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${MEMBER_OWN}\r\n`,
    );
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
headers: { memberHeader: X-Member, ringVersionHeader: X-Ring-Version }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${(member.address() as { port: number }).port}" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  for (const s of upgraded) s.destroy();
  member.closeAllConnections();
  await new Promise((r) => member.close(r));
});

/** Sends a handshake; resolves with the answer's status and its header lines by lower-case name. */
function handshake(path: string): Promise<{ status: number; headers: Map<string, string[]> }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no whole head in time: ${JSON.stringify(text)}`));
    }, scaled(10_000));
    s.setEncoding("latin1");
    s.on("error", () => undefined);
    s.on("data", (d: string) => {
      text += d;
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      s.destroy();
      const [statusLine, ...fields] = text.slice(0, end).split("\r\n");
      const headers = new Map<string, string[]>();
      for (const f of fields) {
        const at = f.indexOf(":");
        const name = f.slice(0, at).toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), f.slice(at + 1).trim()]);
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers });
    });
    s.write(`GET ${path} HTTP/1.1\r\n${HANDSHAKE}x-user-id: k\r\n\r\n`);
  });
}

for (const [path, status] of [
  ["/live", 101],
  ["/refused", 426],
] as const) {
  test(`a ${status} answer carries one X-Member and one X-Ring-Version, shardgate's`, {
    timeout: 60_000,
  }, async () => {
    const r = await handshake(path);
    assert.equal(r.status, status);
    assert.deepEqual(r.headers.get("x-member"), ["m1"], JSON.stringify([...r.headers]));
    const version = r.headers.get("x-ring-version") ?? [];
    assert.equal(version.length, 1, JSON.stringify([...r.headers]));
    assert.notEqual(version[0], "999");
    assert.match(version[0], /^\d+$/);
  });
}
