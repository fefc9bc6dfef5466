// Tried from the outside: a WebSocket upgrade to a pool member named by hostname whose DNS
// never answers. Upgrades go through http-proxy-3 on a fresh connection (`agent: false`), and
// http-proxy-3 copies no `lookup` into that request's options: the upgrade's lookup was
// Node's getaddrinfo, not the bounded lookup every other upstream connection uses.
// Found: the upgrade's getaddrinfo held a libuv thread for the resolver's whole 150 s, and
// SIGTERM did not end the process (the exit joins the hung thread). Now the upgrade's
// lookup is c-ares, bounded at 5 s: the upgrade is answered 502 and SIGTERM exits 0.
// A real shardgate process in a mount namespace of its own whose resolv.conf names a DNS
// double on 127.x.y.z:53 (test/support/dns-double.ts); loopback only.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DnsDouble, mountNamespaceUnavailable } from "../support/dns-double.js";
import { sigtermExit, startInDnsNamespace } from "../support/dns-process.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const seed = testSeed(20_261_207);
const random = seededRandom(seed);
const dir = mkdtempSync(join(tmpdir(), "shardgate-dns-ws-"));
const skip = mountNamespaceUnavailable();
const NAME = "member.dns-websocket.test";
const children = new Set<ChildProcess>();
const upstreams: EchoUpstream[] = [];
let dns: DnsDouble | null = null;

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await closeAll(upstreams);
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends a WebSocket upgrade to `hostPort`; resolves with what came back once the socket closes, a whole JSON answer arrived, or `ms` pass. */
function upgrade(hostPort: string, ms: number): Promise<{ text: string; closed: boolean }> {
  const [host, port] = hostPort.split(":");
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    let text = "";
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => {
      if (text.length < 65_536) text += c;
      if (/^HTTP\/1\.1 \d{3}/.test(text) && text.includes("\r\n\r\n") && text.trimEnd().endsWith("}"))
        finish(true);
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.write(
      "GET /named/ws HTTP/1.1\r\nHost: x\r\nx-k: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
  });
}

test("a WebSocket upgrade to a hostname member whose DNS never answers: upstream_dns in bounded time, SIGTERM exits 0", {
  skip: skip ?? false,
  timeout: 240_000,
}, async () => {
  dns = await DnsDouble.start(random);
  dns.mode = "silent";
  upstreams.push(...(await startUpstreams(1)));
  const port = upstreams[0].port;
  const resolv = join(dir, "resolv.conf");
  // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
  dns.writeResolvConf(resolv, 30, 5);
  const file = join(dir, "ws.yaml");
  writeFileSync(
    file,
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  named:
    breaker: { consecutiveFailures: 100000, minRequests: 100000 }
    members:
      - { id: n1, address: "${NAME}:${port}" }
routes:
  - { match: { pathPrefix: / }, pool: named, key: [header:x-k] }
`,
  );
  const sg = await startInDnsNamespace({
    resolvConf: resolv,
    configFile: file,
    dataDir: join(dir, "data"),
    note: seedNote(seed),
    children,
  });
  const output = sg.output;

  const answer = await upgrade(sg.httpAddress, scaled(30_000));
  assert.ok(dns.queries.includes(NAME), `the member's name was never asked\n${output()}`);
  // The connect timeout (1 s) covers the lookup; the lookup itself ends within 5 s.
  assert.match(
    answer.text,
    /^HTTP\/1\.1 502 [\s\S]*"error":"(upstream_connect_failed|upstream_dns)"/,
    `upgrade answer: ${JSON.stringify(answer)}\n${output()}`,
  );

  // The old code: "shutdown complete", then no exit (the exit joined the hung getaddrinfo thread).
  const code = await sigtermExit(sg);
  assert.equal(code, 0, `SIGTERM after an upgrade whose DNS hung\n${output()}`);
});
