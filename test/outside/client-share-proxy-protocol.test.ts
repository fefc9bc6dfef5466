// Tried from the outside: on a PROXY protocol listener the client share
// (listen.maxUpstreamPerClient, proxy/forward/client-share.ts) counts the client the header
// names, not the balancer's connection address: every connection here comes from 127.0.0.1, so a
// share counted by the TCP peer would refuse the bystander with the attacker. An IPv6 client is
// counted by its /64: addresses picked from one /64 are one client, another /64 another. Real
// shardgate process, real member holding each request (/hold), raw client sockets writing the
// PROXY v1 header. With the default share (64) and the unshared half of 256 (128), one client
// gets 128 requests held before its first 503 client_share_exceeded.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { type ShareMember, startShareMember, stopShareMember } from "../support/share-member.js";
import { eventually } from "../support/wait.js";

const UNSHARED = 128;
const EXTRA = 4;

let member: ShareMember;
let sg: RunningShardgate;
let port = 0;
const sockets = new Set<Socket>();

before(async () => {
  member = await startShareMember();
  sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
  proxyProtocol: { trusted: [127.0.0.1/32] }
admin:
  token: ""
log:
  level: info
  accessLog: false
pools:
  users:
    algorithm: ring
    members:
      - { id: m1, address: "127.0.0.1:${member.port}" }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id, ip]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await stopShareMember(member);
});

/** One held request on a new connection whose PROXY header names `client`; resolves with the status line's code once answered. */
function holdFrom(client: string): { status: Promise<number> } {
  const v6 = client.includes(":");
  const header = `PROXY ${v6 ? "TCP6" : "TCP4"} ${client} ${v6 ? "::1" : "127.0.0.1"} 40000 80\r\n`;
  const s = connect(port, "127.0.0.1");
  sockets.add(s);
  s.write(`${header}GET /hold HTTP/1.1\r\nHost: h\r\nx-user-id: same\r\nConnection: close\r\n\r\n`);
  const status = new Promise<number>((resolve) => {
    let text = "";
    s.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m !== null) resolve(Number(m[1]));
    });
    s.on("close", () => resolve(0));
    s.on("error", () => resolve(0));
  });
  return { status };
}

/** Sends `n` held requests from the addresses `addressOf(i)`; returns how many were refused with 503 (the rest held). */
async function attack(
  n: number,
  addressOf: (i: number) => string,
): Promise<{ held: number; refused: number }> {
  const from = member.held.length;
  let refused = 0;
  let other = "";
  for (let i = 0; i < n; i++)
    void holdFrom(addressOf(i)).status.then((code) => {
      if (code === 503) refused++;
      else other += ` ${code}`;
    });
  await eventually("each request held or refused", () =>
    member.held.length - from + refused === n ? true : undefined,
  );
  assert.equal(other, "", "only answers of held requests (none yet) or 503s");
  return { held: member.held.length - from, refused };
}

async function releaseAll(): Promise<void> {
  for (const res of member.held.splice(0)) res.end("done");
  for (const s of sockets) s.destroy();
  sockets.clear();
  await eventually("the member saw every request end", () => (member.open === 0 ? true : undefined));
}

test("PROXY v1 TCP4: the share counts the header's client, not the balancer's address", async () => {
  const a = await attack(UNSHARED + EXTRA, () => "10.1.1.1");
  assert.deepEqual(
    a,
    { held: UNSHARED, refused: EXTRA },
    "one client named by the header: 128 held, the rest refused",
  );
  // Same TCP peer (127.0.0.1), another client in the header: under its share, so taken.
  const b = await attack(2, () => "10.1.1.2");
  assert.deepEqual(b, { held: 2, refused: 0 }, "another client behind the same balancer is not refused");
  await releaseAll();
});

test("PROXY v1 TCP6: addresses of one /64 are one client, another /64 another", async () => {
  const a = await attack(UNSHARED + EXTRA, (i) => `2001:db8:1:2::${(i + 1).toString(16)}`);
  assert.deepEqual(
    a,
    { held: UNSHARED, refused: EXTRA },
    "one /64, 132 addresses: 128 held, the rest refused",
  );
  const same = await attack(1, () => "2001:db8:1:2:ffff:ffff:ffff:fffe");
  assert.deepEqual(same, { held: 0, refused: 1 }, "another address of the same /64 is the same client");
  const b = await attack(2, () => "2001:db8:1:3::1");
  assert.deepEqual(b, { held: 2, refused: 0 }, "a client of another /64 is not refused");
  await releaseAll();
});
