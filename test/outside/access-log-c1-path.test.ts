// A client's HTTP/2 `:path` reaches the access log, which operators read in a terminal
// (`tail -f`, `kubectl logs`). Node reads an h2 header as latin1, so a path byte 0x9b is U+009B,
// the C1 form of CSI: JSON.stringify writes it raw (it escapes only C0), and the line carried a
// terminal control sequence of the client's choosing (`/a<CSI>2J` clears an xterm's screen).
// HTTP/1.1 refuses that byte in its parser. Now DEL, C1 controls and bidi overrides in a logged
// value are \uXXXX escapes, as in log-quote.ts: the same JSON value, no raw control.
// The process's stdout is read raw here (the test harness parses lines, which hides escapes).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { reapOnExit } from "../support/child-reaper.js";
import { shardgateArgv } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-access-c1-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** DEL, C1 controls, the line/paragraph separators and bidi overrides: none may be raw in a line. */
const RAW_CONTROL = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** GET `path` over h2c with prior knowledge; resolves with the status. */
function h2Get(origin: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.on("error", reject);
    const req = session.request({ ":method": "GET", ":path": path, "x-user-id": "u1" });
    req.on("response", (h) => {
      req.resume();
      req.on("end", () => {
        session.close();
        resolve(Number(h[":status"]));
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test("a C1 control in an h2 path is escaped in the access log line", async (t) => {
  const ups = await startUpstreams(1, "c1");
  t.after(() => closeAll(ups));
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${ups[0].port}" }]
routes:
  - { pool: users, key: [header:x-user-id] }
`,
  );
  const argv = shardgateArgv(["start", "--config", file]);
  const child = reapOnExit(spawn(argv.command, argv.args, { stdio: ["ignore", "pipe", "pipe"] }));
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
  });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    out += chunk;
  });
  const listening = await eventually("the listening line", () => {
    const line = out.split("\n").find((l) => l.includes('"msg":"listening"'));
    return line === undefined ? undefined : (JSON.parse(line) as { http: string });
  });
  const path = "/a\u009b2J\u0085z";
  await h2Get(`http://${listening.http}`, path);
  const line = await eventually("the access line", () =>
    out.split("\n").find((l) => l.includes('"type":"access"')),
  );
  assert.equal((JSON.parse(line) as { path: string }).path, path, "the same value once parsed");
  const raw = RAW_CONTROL.exec(line);
  assert.equal(raw, null, raw === null ? "" : `U+${raw[0].charCodeAt(0).toString(16)} raw in ${line}`);
  assert.ok(line.includes('"path":"/a\\u009b2J\\u0085z"'), line);
});
