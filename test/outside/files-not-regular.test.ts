// Files a running shardgate re-reads, replaced by something that is not a regular file. Found on
// a real process: the listener certificate replaced by a FIFO nobody writes (re-read on change),
// or a reload (POST /admin/reload, as SIGHUP) naming a FIFO as a pool's upstream CA, made
// readFileSync block in open(2) on the event loop: the proxy stopped answering anything, data
// port and admin port, until someone wrote to the FIFO. Now each is read by the bounded reader
// (config/file/bounded-read.ts: opened without blocking, refused unless a regular file within
// 4 MiB): the certificate change is logged naming the file and the old pair keeps serving; the
// reload is refused naming the file and the running config keeps serving. Requests are made
// during each try and answered.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  constants,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
} from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { makeCa } from "../support/test-ca.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const TOKEN = "outside-files-token-0123456789";
let work: string;
let upstreams: EchoUpstream[] = [];
let plain: RunningShardgate;
let tlsd: RunningShardgate;
const fifos: string[] = [];

function mkfifo(path: string): string {
  execFileSync("mkfifo", [path]);
  fifos.push(path);
  return path;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "sg-files-outside-"));
  makeCa(work, "v1", "v1");
  mkdirSync(join(work, "certs"));
  copyFileSync(join(work, "v1.pem"), join(work, "certs", "cur.pem"));
  copyFileSync(join(work, "v1.key"), join(work, "certs", "cur.key"));
  upstreams = await startUpstreams(1);
  const base = poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], token: TOKEN });
  plain = await startShardgate(base);
  tlsd = await startShardgate(
    base.replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n  tls: { cert: ${join(work, "certs", "cur.pem")}, key: ${join(work, "certs", "cur.key")} }\n`,
    ),
  );
});

after(async () => {
  // On a build that blocks in open(2) on a FIFO, a writer coming and going lets it go.
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // nobody reading it
    }
  }
  await stopAll();
  await closeAll(upstreams);
  rmSync(work, { recursive: true, force: true });
});

/** A GET through the data port, bounded: resolves to the status, or to the error it met. */
async function proxied(sg: RunningShardgate): Promise<string> {
  try {
    const r = await fetch(`${sg.httpUrl}/`, {
      headers: { "x-user-id": "alice" },
      signal: AbortSignal.timeout(scaled(10_000)),
    });
    await r.text();
    return String(r.status);
  } catch (err) {
    return (err as Error).message;
  }
}

/** A GET over the TLS listener: the certificate's common name and the status, or the error met. */
function tlsGet(sg: RunningShardgate): Promise<string> {
  const url = new URL(sg.httpUrl);
  return new Promise((resolve) => {
    const req = httpsGet(
      {
        host: "127.0.0.1",
        port: url.port,
        path: "/",
        headers: { "x-user-id": "alice" },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        const cn = String(
          (res.socket as import("node:tls").TLSSocket).getPeerCertificate().subject?.CN ?? "",
        );
        res.resume();
        res.on("end", () => resolve(`${cn} ${res.statusCode}`));
      },
    );
    req.setTimeout(scaled(10_000), () => req.destroy(new Error("no answer in 10 s")));
    req.on("error", (e) => resolve(e.message));
  });
}

test("a reload naming a FIFO, a folder or a symlink loop as a pool's upstream CA is refused naming it; the proxy serves throughout", async () => {
  const loop = join(work, "loop-a.pem");
  execFileSync("ln", ["-s", join(work, "loop-b.pem"), loop]);
  execFileSync("ln", ["-s", loop, join(work, "loop-b.pem")]);
  const tries: Array<[string, RegExp]> = [
    [mkfifo(join(work, "ca-fifo.pem")), /not a regular file \(a FIFO/],
    [join(work, "certs"), /not a regular file \(a directory\)/],
    [loop, /ELOOP/],
  ];
  const failures: string[] = [];
  for (const [ca, reason] of tries) {
    plain.config.write(
      poolConfig({
        members: [{ id: "m1", port: upstreams[0].port }],
        token: TOKEN,
        poolExtra: `    tls: { ca: ${ca} }`,
      }),
    );
    const during = proxied(plain);
    let answer: string;
    try {
      const r = await fetchJson(`${plain.adminUrl}/admin/reload`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: AbortSignal.timeout(scaled(10_000)),
      });
      answer = `${r.status} ${r.text}`;
    } catch (err) {
      answer = `no answer: ${(err as Error).message}`;
    }
    if (!answer.startsWith("400 ") || !answer.includes('"pools.users.tls"') || !reason.test(answer))
      failures.push(`${ca}: reload answered ${answer.slice(0, 300)}`);
    const statuses = [await during, await proxied(plain)];
    if (statuses.some((s) => s !== "200"))
      failures.push(`${ca}: data port during/after: ${statuses.join(", ")}`);
  }
  assert.deepEqual(failures, []);
});

test("the listener certificate replaced by a FIFO nobody writes: logged naming it, the old pair keeps serving", async () => {
  assert.equal(await tlsGet(tlsd), "v1 200");
  const lines = tlsd.proc.lines.length;
  const fifo = mkfifo(join(work, "incoming.pem"));
  renameSync(fifo, join(work, "certs", "cur.pem"));
  fifos.push(join(work, "certs", "cur.pem"));
  const during = tlsGet(tlsd);
  const logged = await eventually(
    "the certificate change logged",
    () =>
      tlsd.proc.lines.slice(lines).find((l) => String(l.msg).startsWith("listener certificate did not load")),
    scaled(20_000),
  ).catch((err: Error) => err.message);
  assert.match(JSON.stringify(logged), /cur\.pem: not a regular file \(a FIFO/);
  assert.equal(await during, "v1 200");
  assert.equal(await tlsGet(tlsd), "v1 200");
  assert.equal(await proxied(plain), "200");
});

test("the config file replaced by a folder or by a link to /dev/zero: a reload is refused naming it at once; the proxy serves throughout", async () => {
  const path = plain.config.path;
  const good = join(work, "good.yaml");
  renameSync(path, good);
  const failures: string[] = [];
  try {
    for (const [make, reason] of [
      [() => mkdirSync(path), /not a regular file \(a directory\)/],
      [() => execFileSync("ln", ["-s", "/dev/zero", path]), /not a regular file \(a character device\)/],
    ] as const) {
      make();
      const during = proxied(plain);
      const started = Date.now();
      let answer: string;
      try {
        const r = await fetchJson(`${plain.adminUrl}/admin/reload`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}` },
          signal: AbortSignal.timeout(scaled(10_000)),
        });
        answer = `${r.status} ${r.text}`;
      } catch (err) {
        answer = `no answer: ${(err as Error).message}`;
      }
      const ms = Date.now() - started;
      if (!answer.startsWith("400 ") || !answer.includes(path) || !reason.test(answer))
        failures.push(`${reason}: reload answered in ${ms} ms: ${answer.slice(0, 300)}`);
      const statuses = [await during, await proxied(plain)];
      if (statuses.some((s) => s !== "200"))
        failures.push(`${reason}: data port during/after: ${statuses.join(", ")}`);
      rmSync(path, { recursive: true, force: true });
    }
  } finally {
    rmSync(path, { recursive: true, force: true });
    renameSync(good, path);
  }
  assert.deepEqual(failures, []);
});
