// Listener certificate rotation tried from the outside on a real shardgate process. Found: a
// certificate folder removed and made again (`rm -rf certs && cp -r new certs`, a volume
// remounted) left its watcher on the dead inode, so no later rotation was ever picked up (the
// old certificate served for ever, nothing logged). Now (proxy/server/certificate-store.ts) a
// replaced folder is watched again and a removed one is looked for every second. Held, kept as
// guards: the certificate written before its key (a mismatched pair mid-rotation) keeps the
// old pair serving, logged at error, and the new pair is served once the key follows; a
// deleted certificate file keeps the old pair serving, logged naming the file.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { tearDownOutside } from "../support/outside-teardown.js";
import { poolConfig, type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { makeCa } from "../support/test-ca.js";
import { eventually } from "../support/wait.js";

let work: string;
let certs: string;
let upstream: Server;
let sg: RunningShardgate;
let port: number;

/** Puts pair `name` (made in `work`) in place as certs/cur.pem + certs/cur.key; `only` one file. */
function install(name: string, only?: "pem" | "key"): void {
  for (const ext of ["pem", "key"] as const) {
    if (only === undefined || only === ext)
      copyFileSync(join(work, `${name}.${ext}`), join(certs, `cur.${ext}`));
  }
}

/** The common name of the certificate a new TLS handshake is given. */
function presented(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const cn = String(s.getPeerCertificate().subject?.CN ?? "");
      s.destroy();
      resolve(cn);
    });
    s.on("error", reject);
  });
}

const served = (cn: string) => async (): Promise<true | undefined> =>
  (await presented()) === cn ? true : undefined;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "shardgate-certdir-"));
  for (const n of ["v1", "v2", "v3", "v4"]) makeCa(work, n, n);
  certs = join(work, "certs");
  mkdirSync(certs);
  install("v1");
  upstream = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const up = (upstream.address() as { port: number }).port;
  const yaml = poolConfig({ members: [{ id: "m1", port: up }] }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  tls: { cert: ${join(certs, "cur.pem")}, key: ${join(certs, "cur.key")} }\n`,
  );
  sg = await startShardgate(yaml);
  port = Number(new URL(sg.httpUrl).port);
});

after(() => tearDownOutside({ member: upstream, dir: work }));

const errorsLogged = (): number =>
  sg.proc.lines.filter((l) => l.msg === "listener certificate did not load; still serving the previous one")
    .length;

test("a certificate rotation through a replaced or removed folder is picked up; a half-done one keeps the old pair", async () => {
  assert.equal(await presented(), "v1");

  // The certificate first, its key later: a mismatched pair for a moment.
  const before = errorsLogged();
  install("v2", "pem");
  await eventually("the mismatched pair logged", () => (errorsLogged() > before ? true : undefined), 20_000);
  assert.equal(await presented(), "v1", "the old pair serves while the new one is half written");
  install("v2", "key");
  await eventually("the v2 pair served once its key followed", served("v2"), 20_000);

  // The certificate file deleted: the pair in memory keeps serving, the log names the file.
  const beforeDelete = errorsLogged();
  unlinkSync(join(certs, "cur.pem"));
  await eventually(
    "the deleted file logged",
    () => (errorsLogged() > beforeDelete ? true : undefined),
    20_000,
  );
  const line = sg.proc.lines
    .filter((l) => String(l.msg).startsWith("listener certificate did not load"))
    .at(-1);
  assert.match(JSON.stringify(line?.files), /cur\.pem/);
  assert.equal(await presented(), "v2");
  install("v2");

  // The folder removed and made again with a new pair in it.
  rmSync(certs, { recursive: true });
  mkdirSync(certs);
  install("v3");
  await eventually("the v3 pair from the re-made folder", served("v3"), 20_000);
  // And the folder's next rotation is seen too (its new inode is watched).
  install("v4");
  await eventually("the v4 pair in the re-made folder", served("v4"), 20_000);

  // The folder gone for a while (seen as gone), then back.
  rmSync(certs, { recursive: true });
  await eventually(
    "the removed folder noticed",
    () =>
      sg.proc.lines.some((l) => String(l.msg).includes("certificate folder removed")) ? true : undefined,
    20_000,
  );
  assert.equal(await presented(), "v4");
  mkdirSync(certs);
  install("v1");
  await eventually("the v1 pair once the folder is back", served("v1"), 20_000);
});
