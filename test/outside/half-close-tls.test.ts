// Tried from the outside: listen.clientHalfClose over TLS. An HTTP/1.1 client that sends its
// request and then half-closes (TLS close_notify and FIN) on the TLS port got no answer with
// `clientHalfClose: answer` (499 in the access log): the TLS listener's sockets were not
// half-open, so Node ended them at the client's FIN before the answer. The plain port answered
// (test/outside/half-close.test.ts). Now the TLS listener is half-open like the plain one
// (proxy/server/proxy-server.ts) and "answer" answers there too; "abort" still cuts (499).
// Real shardgate processes, a TLS client socket, a plain HTTP member answering after 300 ms.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect } from "node:tls";
import { tearDownOutside } from "../support/outside-teardown.js";
import {
  eventually,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

/** Bounds the wait for the answer and the close. */
const DEADLINE_MS = 20_000;

let member: Server;
let certDir: string;
let ca: Buffer;
const running = new Map<string, RunningShardgate>();

before(async () => {
  member = createServer((_req, res) => {
    setTimeout(() => res.end("late-ok"), 300);
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
  certDir = mkdtempSync(join(tmpdir(), "sg-halftls-"));
  makeCa(certDir);
  issueCert(certDir, "leaf", "127.0.0.1", "IP:127.0.0.1");
  ca = readFileSync(join(certDir, "ca.pem"));
  for (const mode of ["answer", "abort"]) {
    const yaml = poolConfig({
      members: [{ id: "m1", port: (member.address() as AddressInfo).port }],
      accessLog: true,
    }).replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n  clientHalfClose: ${mode}\n  tls: { cert: "${join(certDir, "leaf.pem")}", key: "${join(certDir, "leaf.key")}" }\n`,
    );
    assert.match(yaml, new RegExp(`clientHalfClose: ${mode}`));
    running.set(mode, await startShardgate(yaml));
  }
});

after(() => tearDownOutside({ member, dir: certDir }));

/** Sends one GET on a new TLS connection, half-closes, and reads until the server closes. */
async function askThenHalfClose(sg: RunningShardgate, path: string): Promise<string> {
  const port = Number(new URL(sg.httpUrl).port);
  const s = connect({ port, host: "127.0.0.1", ca, ALPNProtocols: ["http/1.1"] });
  s.on("error", () => {});
  await new Promise<void>((r, j) => {
    s.once("secureConnect", () => r());
    s.once("error", j);
  });
  let got = "";
  s.on("data", (d: Buffer) => {
    got += d.toString("latin1");
  });
  s.write(`GET ${path} HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n`);
  s.end();
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no close within ${DEADLINE_MS} ms: ${JSON.stringify(got)}`)),
      DEADLINE_MS,
    );
    s.once("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
  return got;
}

const accessLine = (sg: RunningShardgate, path: string) =>
  eventually(`the access line of ${path}`, () =>
    sg.proc.lines.find((l) => l.type === "access" && l.path === path),
  );

test("TLS, clientHalfClose answer: a request then the client's FIN is answered", async () => {
  const sg = running.get("answer");
  assert.ok(sg !== undefined);
  const got = await askThenHalfClose(sg, "/half-answer");
  assert.match(got, /^HTTP\/1\.1 200 /, JSON.stringify(got));
  assert.ok(got.endsWith("late-ok"), JSON.stringify(got));
  assert.match(got, /\r\nconnection: close\r\n/i, "the answer after the FIN closes the connection");
  assert.equal((await accessLine(sg, "/half-answer")).status, 200);
});

test("TLS, clientHalfClose abort (default): the client's FIN cuts the request (499), nothing answered", async () => {
  const sg = running.get("abort");
  assert.ok(sg !== undefined);
  const got = await askThenHalfClose(sg, "/half-abort");
  assert.equal(got, "");
  assert.equal((await accessLine(sg, "/half-abort")).status, 499);
});
