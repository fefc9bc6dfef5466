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
import { after, before, test } from "node:test";
import { usersPool } from "../support/minimal-config.js";
import {
  readHead,
  refuseUpgrade,
  startUpgradingMember,
  type UpgradingMember,
  WEBSOCKET_OFFER,
} from "../support/raw-upgrade.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const MEMBER_OWN = "X-Member: spoofed\r\nX-Ring-Version: 999\r\n";

let member: UpgradingMember;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  member = await startUpgradingMember(
    (req, socket) => {
      if (req.url?.startsWith("/refused")) {
        refuseUpgrade(socket, MEMBER_OWN);
        return;
      }
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${MEMBER_OWN}\r\n`,
      );
    },
    (_req, res) => res.end("plain"),
  );
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
headers: { memberHeader: X-Member, ringVersionHeader: X-Ring-Version }
${usersPool(member.address)}`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await member.close();
});

/** Sends a handshake; resolves with the answer's status and its header lines by lower-case name. */
function handshake(path: string) {
  return readHead(port, `GET ${path} HTTP/1.1\r\n${WEBSOCKET_OFFER}x-user-id: k\r\n\r\n`);
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
