// The listener's certificate file rewritten in place (leaf, then its chain) and re-read while
// half written. What happens with the halves: a key that does not match its cert is refused by
// OpenSSL and a PEM cut mid-block does not parse (both keep the old pair serving, held by
// certificate-folder-replaced.test.ts), but a chain file cut at the end of its first block
// parses: the leaf alone, served without its chain. Tried on the store with a real TLS server:
// a reload while only the leaf was written installed the chain-less certificate. Now a reload
// that finds a file changed within the settle period keeps the running pair and looks again a
// period later, so what is installed is the whole file. A pair renamed into place (a new inode,
// as cert-manager's Secret volume swaps it) is whole by construction and read at once.

import assert from "node:assert/strict";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, createServer, type SecureContextOptions, type Server } from "node:tls";
import type { LogSink } from "../../config/log-sink.js";
import { CertificateStore } from "../../proxy/server/certificate-store.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventually, scaled } from "../support/wait.js";

let dir: string;
let server: Server;
let store: CertificateStore;
/** The certificates the store installed on the server, in order. */
const installed: string[] = [];
const logs: string[] = [];

const blocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-cert-torn-"));
  makeCa(dir);
  issueCert(dir, "one", "one", "IP:127.0.0.1");
  issueCert(dir, "two", "two", "IP:127.0.0.1");
  const ca = readFileSync(join(dir, "ca.pem"), "utf8");
  // The served files: a leaf followed by its chain (here the CA), as cert-manager writes them.
  writeFileSync(join(dir, "cur.pem"), readFileSync(join(dir, "one.pem"), "utf8") + ca);
  writeFileSync(join(dir, "cur.key"), readFileSync(join(dir, "one.key")));
  const log = (m?: string) => logs.push(m ?? "");
  const sink: LogSink = {
    debug: (_o, m) => log(m),
    info: (_o, m) => log(m),
    warn: (_o, m) => log(m),
    error: (_o, m) => log(m),
  };
  // reload() is also called by the test itself, mid-write: a trigger that came early.
  const settle = { settleMs: scaled(800), maxMs: scaled(8000) };
  store = new CertificateStore(
    { cert: join(dir, "cur.pem"), key: join(dir, "cur.key") },
    [],
    sink,
    200,
    settle,
  );
  server = createServer({ ...store.defaultPair, SNICallback: store.SNICallback });
  const set = server.setSecureContext.bind(server);
  server.setSecureContext = (o: SecureContextOptions) => {
    installed.push(String(o.cert));
    set(o);
  };
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  store.watch(server);
});

after(() => {
  store?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The certificates a new handshake is given: the leaf's CN and how many came. */
function presented(): Promise<{ cn: string; chain: number }> {
  const port = (server.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      let c = s.getPeerCertificate(true);
      const cn = String(c.subject?.CN ?? "");
      const seen = new Set<string>();
      while (c !== undefined && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        c = c.issuerCertificate;
      }
      s.destroy();
      resolve({ cn, chain: seen.size });
    });
    s.on("error", reject);
  });
}

test("a certificate chain re-read while half written: the running pair serves until the whole file is in", {
  timeout: 120_000,
}, async () => {
  assert.deepEqual(await presented(), { cn: "one", chain: 2 });
  const ca = readFileSync(join(dir, "ca.pem"), "utf8");
  writeFileSync(join(dir, "cur.key"), readFileSync(join(dir, "two.key")));
  const fd = openSync(join(dir, "cur.pem"), "w");
  try {
    // The leaf of pair two: it matches the key already written, and parses alone.
    writeSync(fd, readFileSync(join(dir, "two.pem"), "utf8"));
    store.reload();
    assert.deepEqual(
      installed.map(blocks),
      [],
      "nothing installed from a file changed within the settle period (the old store installed the leaf alone)",
    );
    writeSync(fd, ca);
  } finally {
    closeSync(fd);
  }
  await eventually("the whole new pair served", async () => {
    const p = await presented();
    return p.cn === "two" ? p : undefined;
  });
  assert.deepEqual(await presented(), { cn: "two", chain: 2 });
  assert.deepEqual(installed.map(blocks), [2], `every installed certificate is whole: ${logs.join("\n")}`);
  assert.ok(
    logs.some((l) => l.includes("waiting for them to hold still")),
    `the wait is logged: ${logs.join("\n")}`,
  );
});

test("a pair renamed into place is read at once; rewritten in place after that, it is waited for", {
  timeout: 120_000,
}, () => {
  // Its own files and store, with a settle period far longer than anything here takes: the
  // renamed pair must be taken by the reload() call itself, with no timer in between.
  const cert = join(dir, "renamed.pem");
  const key = join(dir, "renamed.key");
  const ca = readFileSync(join(dir, "ca.pem"), "utf8");
  writeFileSync(cert, readFileSync(join(dir, "one.pem"), "utf8") + ca);
  writeFileSync(key, readFileSync(join(dir, "one.key")));
  const lines: string[] = [];
  const log = (m?: string) => lines.push(m ?? "");
  const sink: LogSink = {
    debug: (_o, m) => log(m),
    info: (_o, m) => log(m),
    warn: (_o, m) => log(m),
    error: (_o, m) => log(m),
  };
  const own = new CertificateStore({ cert, key }, [], sink, 200, { settleMs: 5000, maxMs: 20_000 });
  try {
    // Pair two, each file written beside its place and renamed in, just now.
    const two = readFileSync(join(dir, "two.pem"), "utf8") + ca;
    writeFileSync(`${key}.next`, readFileSync(join(dir, "two.key")));
    renameSync(`${key}.next`, key);
    writeFileSync(`${cert}.next`, two);
    renameSync(`${cert}.next`, cert);
    own.reload();
    assert.equal(
      own.defaultPair.cert.toString(),
      two,
      `the renamed pair is taken at once (the old store waited the settle period): ${lines.join("\n")}`,
    );
    assert.ok(!lines.some((l) => l.includes("waiting for them to hold still")), lines.join("\n"));

    // The same inode rewritten in place: it may be half written, so the running pair stays.
    writeFileSync(cert, readFileSync(join(dir, "two.pem"), "utf8"));
    own.reload();
    assert.equal(
      own.defaultPair.cert.toString(),
      two,
      "an in-place write within the settle period is not read yet",
    );
    assert.ok(
      lines.some((l) => l.includes("waiting for them to hold still")),
      `the in-place write is waited for: ${lines.join("\n")}`,
    );
  } finally {
    own.close();
  }
});
