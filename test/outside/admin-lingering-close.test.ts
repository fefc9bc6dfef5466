// The admin API's body cap for a body no endpoint reads (discardBody): past the cap the
// connection closes after its answer. It used its own fixed 1 s linger, then destroyed the socket
// with the client's upload still arriving: the kernel answered RST, and a client that reads only
// after its upload (curl, most upload code) that was still sending 1 s past the cap lost the
// answer it had been sent. Now the same lingering close as the data plane (lingerAfterAnswer:
// nginx's bounds, the client's FIN ends it). Tried from the outside on a real shardgate process.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { USERS_DEAD_MEMBER_POOL } from "../support/minimal-config.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const SEED = testSeed(2026_1208);
const CAP = 64 * 1024;

let sg: RunningShardgate;

before(async () => {
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { maxBodySize: ${CAP} }
${USERS_DEAD_MEMBER_POOL}`);
});

after(async () => {
  await stopAll();
});

/**
 * A chunked upload with the read side paused: `burst` bytes at once (past the cap), then a
 * 4 KiB chunk every `everyMs` for `slowMs`; reads once its last chunk is handed to the kernel,
 * then ends its write side. Resolves with what it read.
 */
function slowUploader(port: number, burst: number, slowMs: number, everyMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect({ port, host: "127.0.0.1" });
    s.pause();
    let reply = "";
    let note = "";
    const giveUp = setTimeout(() => {
      note = " (client gave up)";
      s.destroy();
    }, scaled(60_000));
    s.on("error", (e: NodeJS.ErrnoException) => {
      note ||= ` (${e.code ?? e.message})`;
    });
    s.on("data", (d) => {
      reply += d.toString("latin1");
    });
    s.on("close", () => {
      clearTimeout(giveUp);
      resolve(reply + note);
    });
    const chunk = (n: number): string => `${n.toString(16)}\r\n${"a".repeat(n)}\r\n`;
    s.write("POST /healthz HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n");
    s.write(chunk(burst));
    const until = Date.now() + slowMs;
    const step = (): void => {
      if (s.destroyed) return;
      if (Date.now() >= until) {
        s.write(chunk(4096), () => {
          s.resume();
          s.end();
        });
        return;
      }
      s.write(chunk(4096));
      setTimeout(step, everyMs).unref();
    };
    setTimeout(step, everyMs).unref();
  });
}

test("an admin uploader still sending well past the body cap gets its answer", {
  timeout: 300_000,
}, async () => {
  const port = Number(new URL(sg.adminUrl).port);
  const random = seededRandom(SEED);
  const uploads: Array<{ burst: number; slowMs: number }> = [];
  for (let i = 0; i < 3; i++)
    uploads.push({
      burst: CAP + 1 + Math.floor(random() * CAP),
      slowMs: 2_500 + Math.floor(random() * 1_000),
    });
  // Each its own connection and its own lingering close: side by side, as a server meets them.
  const replies = await Promise.all(uploads.map((u) => slowUploader(port, u.burst, u.slowMs, 100)));
  const lost: string[] = [];
  uploads.forEach(({ burst, slowMs }, i) => {
    if (!replies[i].startsWith("HTTP/1.1 405 "))
      lost.push(`${burst} B then ${slowMs} ms: ${JSON.stringify(replies[i].slice(0, 60))}`);
  });
  assert.deepEqual(lost, [], `${lost.length} of 3 answers lost; ${seedNote(SEED)}`);
});
