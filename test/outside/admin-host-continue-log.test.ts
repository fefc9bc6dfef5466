// A foreign Host refused on the `Expect: 100-continue` path is logged and counted as on the main
// path. The main path logs a host_not_allowed line at most once per 10 s with `refused`, how many
// were refused since the last line; the 100-continue path (proxy/admin/server.ts checkContinue)
// answered 421 but neither logged nor counted, so a rebinding page sending its requests with
// Expect: 100-continue left no trace. Also, there a declared body over the cap was answered 413
// before the Host was looked at, telling a foreign page the cap; the Host now comes first.
// A real shardgate, raw requests over loopback sockets, its JSON log read as it writes it, with
// the 10 s between lines shortened to LOG_EVERY_MS (SHARDGATE_TEST_ADMIN_LOG_EVERY_MS).

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  type LogLine,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const WAIT_MS = 30_000;
const FOREIGN = "evil.example";
/**
 * The admin port's interval between refusal lines here: still far longer than the few requests
 * the first two cases send before they count on the next line not being written yet.
 */
const LOG_EVERY_MS = Math.min(scaled(4_000), 10_000);

/** Writes `head` to the admin port and resolves with the first status line it answers. */
function firstStatusLine(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    s.setTimeout(scaled(WAIT_MS), () =>
      s.destroy(new Error(`no answer within ${WAIT_MS} ms: ${JSON.stringify(got)}`)),
    );
    s.on("data", (c: Buffer) => {
      got += c.toString("latin1");
      if (got.includes("\r\n")) {
        s.destroy();
        resolve(got.slice(0, got.indexOf("\r\n")));
      }
    });
    s.on("error", reject);
    s.write(head);
  });
}

function continueRequest(path: string, length = 2): string {
  return `POST ${path} HTTP/1.1\r\nHost: ${FOREIGN}\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`;
}

function plainRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${FOREIGN}\r\nConnection: close\r\n\r\n`;
}

describe("foreign Host with Expect: 100-continue: logged and counted like the main path", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let port: number;
  const refusals = (): LogLine[] => sg.proc.lines.filter((l) => l.code === "host_not_allowed");

  before(async () => {
    ups = await startUpstreams(1, "hc");
    sg = await startShardgate(
      poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
      { env: { SHARDGATE_TEST_ADMIN_LOG_EVERY_MS: String(LOG_EVERY_MS) } },
    );
    port = Number(new URL(sg.adminUrl).port);
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("the first refusal, on the 100-continue path, is the one logged", async () => {
    assert.equal(refusals().length, 0, "no refusal logged before the test");
    assert.match(await firstStatusLine(port, continueRequest("/cont/1")), /^HTTP\/1\.1 421 /);
    // A main-path refusal after it: on the old code it wrote the first line, so the wait ends either way.
    assert.match(await firstStatusLine(port, plainRequest("/main/1")), /^HTTP\/1\.1 421 /);
    const line = await sg.proc.waitForLine(
      "a host_not_allowed log line",
      (l) => l.code === "host_not_allowed",
    );
    assert.equal(line.path, "/cont/1", `the first refusal line: ${JSON.stringify(line)}`);
    assert.equal(line.host, FOREIGN);
    assert.equal(line.refused, 1);
  });

  test("100-continue refusals count in the next line's `refused`", async () => {
    // /main/1 (after the first line) and these two are not logged yet, only counted.
    for (const p of ["/cont/2", "/cont/3"])
      assert.match(await firstStatusLine(port, continueRequest(p)), /^HTTP\/1\.1 421 /);
    // Main-path refusals until one is logged (the LOG_EVERY_MS window ends): bounded in count and time.
    const deadline = performance.now() + scaled(WAIT_MS);
    let second: LogLine | undefined;
    for (let k = 2; second === undefined && k <= 200 && performance.now() < deadline; k++) {
      assert.match(await firstStatusLine(port, plainRequest(`/main/${k}`)), /^HTTP\/1\.1 421 /);
      second = refusals()[1];
      if (second === undefined)
        await sg.proc
          .waitForLine(
            "the second refusal line",
            (l) => l.code === "host_not_allowed" && l.path !== "/cont/1",
            300,
          )
          .then(
            (l) => {
              second = l;
            },
            () => {},
          );
    }
    assert.ok(second !== undefined, `no second refusal line within ${WAIT_MS} ms`);
    const k = Number(/^\/main\/(\d+)$/.exec(String(second.path))?.[1]);
    assert.ok(Number.isInteger(k), `the second line is a main-path refusal: ${JSON.stringify(second)}`);
    // Refused since the first line: /main/1, /cont/2, /cont/3 and /main/2../main/k.
    assert.equal(second.refused, k + 2, JSON.stringify(second));
  });

  test("a foreign Host declaring a body over the cap gets 421, not 413", async () => {
    const head = await firstStatusLine(port, continueRequest("/admin/reload", 1024 * 1024 * 1024));
    assert.match(head, /^HTTP\/1\.1 421 /);
  });
});
