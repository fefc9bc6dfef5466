// A reload re-reads the listener's certificate files once they hold still (proxy/app/reload.ts,
// reload-settled.ts). One rewritten in place for ever must not hold the reload, nor the reloads
// queued behind it: the wait is bounded by SHARDGATE_FILE_SETTLE_MAX_MS, after which POST
// /admin/reload answers 400 naming listen.tls ("still changing after N ms"), the running pair
// keeps serving, and once the writing stops the next reload is accepted. A real shardgate on
// loopback with a writer appending to its certificate file every 50 ms. Nothing is random.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { keepWriting } from "../support/settling-file.js";
import { fetchJson, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { makeCa } from "../support/test-ca.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const work = mkdtempSync(join(tmpdir(), "shardgate-reload-cert-writing-"));
after(async () => {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
});

const TOKEN = "reload-cert-writing-token";
const SETTLE_MS = scaled(200);
const MAX_MS = scaled(1500);

/** GET / over TLS on a connection of its own: the status. */
function getTls(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", agent: false, rejectUnauthorized: false, timeout: 20_000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", reject);
    req.end();
  });
}

test("a listener certificate rewritten for ever: POST /admin/reload is refused at the bound with 400, then accepted once it stops", async (t) => {
  makeCa(work, "cur", "cur");
  const cert = join(work, "cur.pem");
  const key = join(work, "cur.key");
  const ups = await startUpstreams(1, "m");
  t.after(() => closeAll(ups));
  const yaml = poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  tls: { cert: ${cert}, key: ${key} }\n`,
  );
  const sg = await startShardgate(yaml, {
    env: { SHARDGATE_FILE_SETTLE_MS: String(SETTLE_MS), SHARDGATE_FILE_SETTLE_MAX_MS: String(MAX_MS) },
  });
  t.after(() => sg.stop());
  const port = Number(new URL(sg.httpUrl).port);
  const reload = () =>
    fetchJson(`${sg.adminUrl}/admin/reload`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });

  // The same certificate, then a comment line every 50 ms (text after a PEM block is ignored).
  const writing = keepWriting(cert, readFileSync(cert, "utf8"), 50);
  let stopped = false;
  t.after(() => {
    if (!stopped) writing.stop();
  });
  const began = performance.now();
  const refused = await reload();
  const tookMs = performance.now() - began;
  assert.equal(refused.status, 400, refused.text);
  t.diagnostic(`refused after ${Math.round(tookMs)} ms (bound ${MAX_MS} ms)`);
  const errors = (refused.body as { detail: { errors: Array<{ path: string; found: string }> } }).detail
    .errors;
  assert.equal(errors[0]?.path, "listen.tls", refused.text);
  assert.match(errors[0].found, /^still changing after \d+ ms$/, refused.text);
  // Bounded: the settle bound plus the config file's own read, never the writer's lifetime.
  assert.ok(tookMs < MAX_MS + scaled(5_000), `the refused reload took ${Math.round(tookMs)} ms`);
  assert.equal(await getTls(port), 200, "the running pair still serves");

  writing.stop();
  stopped = true;
  const accepted = await reload();
  assert.equal(accepted.status, 200, accepted.text);
  assert.equal(await getTls(port), 200);
});
