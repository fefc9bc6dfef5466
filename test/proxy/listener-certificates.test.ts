// Listener certificates: chosen by SNI (exact and wildcard names, a default for the rest),
// and re-read from disk while requests keep arriving: a garbage file keeps the old pair
// serving, a new pair (key and cert swapped one after the other) takes over, and not one
// request of the running load fails. Certificates are made here with the openssl CLI.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import { SILENT_LOG } from "../../config/log-sink.js";
import { CertificateStore } from "../../proxy/server/certificate-store.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { recordingLogger } from "../support/recording-logger.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventually } from "../support/wait.js";
import { planeOverUpstreams } from "./harness.js";

/** Replaces `file` in one step (rename), as cert-manager's atomic writer does. */
function swapIn(dir: string, file: string, content: Buffer | string): void {
  const tmp = join(dir, `.${file}.tmp`);
  writeFileSync(tmp, content);
  renameSync(tmp, join(dir, file));
}

test("SNI picks the certificate; files swapped mid-load are picked up with zero failed requests", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-sni-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "default", "default", "IP:127.0.0.1");
  issueCert(dir, "a", "a.test", "DNS:a.test");
  issueCert(dir, "b", "wild-b", "DNS:*.b.test");
  issueCert(dir, "a2", "a.test v2", "DNS:a.test");
  const ca = readFileSync(join(dir, "ca.pem"));

  const { config, plane } = await planeOverUpstreams(t, 2);
  const store = new CertificateStore(
    { cert: join(dir, "default.pem"), key: join(dir, "default.key") },
    [
      { names: ["a.test"], cert: join(dir, "a.pem"), key: join(dir, "a.key") },
      { names: ["*.b.test"], cert: join(dir, "b.pem"), key: join(dir, "b.key") },
    ],
    SILENT_LOG,
    100,
  );
  const outcomes: string[] = [];
  store.onReload = (r) => outcomes.push(r);
  const server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    // Long keep-alive: the connection opened before the swap must not expire on a slow machine.
    listen: {
      timeouts: { ...config.listen.timeouts, keepAlive: 120_000, idle: 120_000 },
      maxHeaderSize: config.listen.maxHeaderSize,
    },
    tls: { ...store.defaultPair, SNICallback: store.SNICallback },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  store.watch(server as never);
  t.after(() => {
    store.close();
    server.closeAllConnections();
    server.close();
    plane.close();
  });
  const port = (server.address() as AddressInfo).port;

  const presented = (servername?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, servername, ca, rejectUnauthorized: false }, () => {
        const cn = s.getPeerCertificate().subject.CN;
        s.end();
        resolve(Array.isArray(cn) ? cn.join() : (cn ?? ""));
      });
      s.on("error", reject);
    });
  assert.equal(await presented("a.test"), "a.test");
  assert.equal(await presented("x.b.test"), "wild-b");
  assert.equal(await presented("other.test"), "default");
  assert.equal(await presented(undefined), "default");

  // A verified HTTPS request per connection (a fresh handshake each time) to a.test.
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          servername: "a.test",
          ca,
          agent: false,
          path: `/load/${i}`,
          headers: { host: "a.test", "x-user-id": `u${i}` },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
  // One keep-alive connection opened before the swap must still serve after it.
  const kept = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => kept.destroy());
  const onKept = (): Promise<{ reused: boolean; status: number }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          servername: "a.test",
          ca,
          agent: kept,
          path: "/kept",
          headers: { host: "a.test" },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ reused: req.reusedSocket, status: res.statusCode ?? 0 }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  assert.equal((await onKept()).status, 200);
  let sent = 0;
  const failures: string[] = [];
  let stop = false;
  const deadline = Date.now() + 90_000;
  const worker = async (): Promise<void> => {
    while (!stop && sent < 3000 && Date.now() < deadline) {
      const i = sent++;
      await one(i).catch((e: Error) => failures.push(`${i}: ${e.message}`));
    }
  };
  const load = Promise.all([worker(), worker(), worker()]);
  await eventually("20 requests of load", () => (sent >= 20 ? true : undefined), 30_000);

  // Garbage: the old pair keeps serving.
  swapIn(dir, "a.pem", "not a certificate\n");
  await eventually(
    "the garbage file to be refused",
    () => (outcomes.includes("kept") ? true : undefined),
    30_000,
  );
  assert.equal(await presented("a.test"), "a.test");
  // The new pair, key first (a moment of mismatch, kept), then the cert.
  swapIn(dir, "a.key", readFileSync(join(dir, "a2.key")));
  swapIn(dir, "a.pem", readFileSync(join(dir, "a2.pem")));
  await eventually(
    "the new a.test certificate",
    async () => ((await presented("a.test")) === "a.test v2" ? true : undefined),
    30_000,
  );
  const at = sent;
  await eventually("30 requests after the swap", () => (sent >= at + 30 ? true : undefined), 30_000);
  stop = true;
  await load;
  assert.deepEqual(
    await onKept(),
    { reused: true, status: 200 },
    "the connection from before the swap still serves",
  );
  assert.deepEqual(failures, [], `failed requests during the swap (of ${sent})`);
  t.diagnostic(`${sent} requests, each on a new TLS connection, ${failures.length} failed`);
  assert.ok(outcomes.includes("reloaded"));
  // The other names were untouched.
  assert.equal(await presented("x.b.test"), "wild-b");
});

test("a reload's re-read is all or nothing; a worker's store serves the bytes it is given, never its files", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-reread-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  for (const n of ["d1", "d2", "a1", "a2"]) issueCert(dir, n, n);
  const pem = (n: string, ext: "pem" | "key") => readFileSync(join(dir, `${n}.${ext}`));
  for (const [to, from] of [
    ["d", "d1"],
    ["a", "a1"],
  ] as const) {
    swapIn(dir, `${to}.pem`, pem(from, "pem"));
    swapIn(dir, `${to}.key`, pem(from, "key"));
  }
  const primary = new CertificateStore(
    { cert: join(dir, "d.pem"), key: join(dir, "d.key") },
    [{ names: ["a.test"], cert: join(dir, "a.pem"), key: join(dir, "a.key") }],
    SILENT_LOG,
  );
  let changed = 0;
  primary.onChanged = () => changed++;
  const certOf = (s: CertificateStore, i: number) => Buffer.from(s.pems()[i].cert, "base64");
  const worker = CertificateStore.given(primary.pems(), SILENT_LOG);
  assert.deepEqual(worker.pems(), primary.pems());

  // The default pair rotated, the SNI pair's certificate broken: nothing changes, the file is named.
  swapIn(dir, "d.pem", pem("d2", "pem"));
  swapIn(dir, "d.key", pem("d2", "key"));
  swapIn(dir, "a.pem", "-----BEGIN CERTIFICATE-----\nbroken\n");
  const errors = primary.reread();
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(errors[0], /a\.pem/);
  assert.ok(certOf(primary, 0).equals(pem("d1", "pem")), "the default pair kept");
  assert.equal(changed, 0);

  // Both whole: both serve, and the change is reported once.
  swapIn(dir, "a.pem", pem("a2", "pem"));
  swapIn(dir, "a.key", pem("a2", "key"));
  assert.deepEqual(primary.reread(), []);
  assert.ok(certOf(primary, 0).equals(pem("d2", "pem")));
  assert.ok(certOf(primary, 1).equals(pem("a2", "pem")));
  assert.equal(changed, 1);

  // The worker's store follows what it is sent, whatever the files hold; bytes that do not load
  // keep what it serves.
  worker.install(primary.pems());
  assert.deepEqual(worker.pems(), primary.pems());
  rmSync(join(dir, "d.pem"));
  assert.deepEqual(worker.pems(), primary.pems());
  worker.install([{ ...primary.pems()[0], cert: Buffer.from("garbage").toString("base64") }]);
  assert.deepEqual(worker.pems(), primary.pems());
});

test("a worker's store keeps its pairs, logs and does not throw when the certificates message is garbled", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-garbled-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "d", "d");
  const primary = new CertificateStore({ cert: join(dir, "d.pem"), key: join(dir, "d.key") }, [], SILENT_LOG);
  const good = primary.pems()[0];
  const log = recordingLogger(["error"]);
  const worker = CertificateStore.given(primary.pems(), log.logger);
  // Each would reach install() straight from the IPC channel, where a throw is the worker's
  // uncaught exception (it exits). Bytes that load but files that are not a pair's: refused too.
  const garbled: unknown[] = [
    null,
    "pems",
    [],
    [null],
    [{ ...good, files: null }],
    [{ ...good, files: { ...good.files, names: 5 } }],
    [{ ...good, files: { ...good.files, names: [5] } }],
    [{ ...good, files: { key: good.files.key } }],
    [{ ...good, cert: 7 }],
  ];
  for (const pems of garbled) {
    const before = log.lines.length;
    assert.doesNotThrow(() => worker.install(pems as never), JSON.stringify(pems));
    assert.deepEqual(worker.pems(), primary.pems(), JSON.stringify(pems));
    assert.equal(log.lines.length, before + 1, `logged once: ${JSON.stringify(pems)}`);
    assert.match(log.lines[before], /from the primary did not load/);
  }
});

test("a worker's store answers SNI with the pairs it is given, and with the rotated ones once installed", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-worker-sni-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeCa(dir);
  issueCert(dir, "d", "default");
  issueCert(dir, "a1", "a.test v1");
  issueCert(dir, "a2", "a.test v2");
  issueCert(dir, "w", "wild-b");
  for (const [to, from] of [
    ["a", "a1"],
    ["b", "w"],
  ] as const) {
    swapIn(dir, `${to}.pem`, readFileSync(join(dir, `${from}.pem`)));
    swapIn(dir, `${to}.key`, readFileSync(join(dir, `${from}.key`)));
  }
  // The primary reads the files; the worker's store is only ever given their bytes.
  const primary = new CertificateStore(
    { cert: join(dir, "d.pem"), key: join(dir, "d.key") },
    [
      { names: ["a.test"], cert: join(dir, "a.pem"), key: join(dir, "a.key") },
      { names: ["*.b.test"], cert: join(dir, "b.pem"), key: join(dir, "b.key") },
    ],
    SILENT_LOG,
  );
  const worker = CertificateStore.given(primary.pems(), SILENT_LOG);
  const { config, plane } = await planeOverUpstreams(t, 1);
  const server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: { timeouts: config.listen.timeouts, maxHeaderSize: config.listen.maxHeaderSize },
    tls: { ...worker.defaultPair, SNICallback: worker.SNICallback },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  worker.watch(server as never);
  t.after(() => {
    worker.close();
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const presented = (servername?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
        const cn = s.getPeerCertificate().subject.CN;
        s.end();
        resolve(Array.isArray(cn) ? cn.join() : (cn ?? ""));
      });
      s.on("error", reject);
    });
  assert.equal(await presented("a.test"), "a.test v1");
  assert.equal(await presented("x.b.test"), "wild-b");
  assert.equal(await presented("other.test"), "default");

  // The SNI pair rotates in the primary (a SIGHUP's re-read); the worker is handed the result.
  swapIn(dir, "a.pem", readFileSync(join(dir, "a2.pem")));
  swapIn(dir, "a.key", readFileSync(join(dir, "a2.key")));
  assert.deepEqual(primary.reread(), []);
  worker.install(primary.pems());
  assert.equal(await presented("a.test"), "a.test v2");
  assert.equal(await presented("x.b.test"), "wild-b");
  assert.equal(await presented(undefined), "default");
});
