// The early-answer tries (upstream-early-answer and its TLS twin): a raw upstream that answers
// on the request head and then closes with the upload unread (so its kernel sends RST), one real
// shardgate per engine in front of it (per-engine.ts), and rounds of seeded uploads of a few
// hundred KiB whose answers must be relayed whole, with the upstream's status and no error in
// the access log. A file gives the upstream's listener and its pool lines; the rest is here.

import assert from "node:assert/strict";
import type { Server, Socket } from "node:net";
import { after, before, test } from "node:test";
import { ENGINES, type Engine, startPerEngine } from "./per-engine.js";
import { seededRandom, seedNote } from "./prng.js";
import { type RunningShardgate, stopAll } from "./shardgate-process.js";
import { streamedUpload } from "./streamed-upload.js";

/** Calls `answer` with the request head once it has arrived whole, then reads nothing more (the body stays unread in the receive buffer). */
export function onRequestHead(s: Socket, answer: (head: string) => void): void {
  let head = "";
  s.on("error", () => {});
  s.on("data", (d) => {
    head += d.toString("latin1");
    if (!head.includes("\r\n\r\n")) return;
    s.removeAllListeners("data");
    s.pause();
    answer(head);
  });
}

/**
 * A connection handler: reads the head only, then answers with the status the path names (its
 * first number: "/413/...", "/rst/200/...") and a Content-Length body, and leaves: a reset
 * (`resetAndDestroy()`) when the path starts with "/rst/", else a close with the body unread
 * (the kernel sends RST all the same).
 */
export function earlyAnswerer(s: Socket): void {
  onRequestHead(s, (head) => {
    const path = /^\w+ (\S+)/.exec(head)?.[1] ?? "/";
    const status = Number(/\/(\d+)\//.exec(path)?.[1] ?? 200);
    const body = status === 413 ? "too large" : "stored";
    s.write(
      `HTTP/1.1 ${status} X\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      () => {
        if (path.startsWith("/rst/")) s.resetAndDestroy();
        else s.destroy();
      },
    );
  });
}

export interface EarlyAnswerCases {
  seed: number;
  rounds: number;
  /** Listens (earlyAnswerer as the handler) and gives the pool lines that reach it, beyond the timeouts and breaker. */
  upstream(): Promise<{ server: Server; poolLines: string[]; cleanup?: () => void }>;
  title(engine: Engine): string;
  /** Round `i`'s path and the status it asks for, drawn from `random` (before the upload's size). */
  round(random: () => number, engine: Engine, i: number): { path: string; status: number };
}

/** Registers the file's before/after hooks and one test per engine. */
export function earlyAnswerCases(o: EarlyAnswerCases): void {
  let upstream: Awaited<ReturnType<EarlyAnswerCases["upstream"]>> | undefined;
  const running = new Map<Engine, RunningShardgate>();

  before(async () => {
    upstream = await o.upstream();
    const server = upstream.server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    for (const [engine, sg] of await startPerEngine(port, [
      ...upstream.poolLines,
      "timeouts: { response: 20s }",
      "breaker: { consecutiveFailures: 100000, minRequests: 100000 }",
    ]))
      running.set(engine, sg);
  });

  after(async () => {
    await stopAll();
    const server = upstream?.server;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
    upstream?.cleanup?.();
  });

  for (const engine of ENGINES) {
    test(o.title(engine), { timeout: 240_000 }, async () => {
      const sg = running.get(engine);
      assert.ok(sg);
      const random = seededRandom(o.seed);
      const failures: string[] = [];
      for (let i = 0; i < o.rounds; i++) {
        const { path, status } = o.round(random, engine, i);
        const size = 256 * 1024 + Math.floor(random() * 768 * 1024);
        const r = await streamedUpload(Number(new URL(sg.httpUrl).port), path, size);
        const want = status === 413 ? "too large" : "stored";
        const ok = r.reply.startsWith(`HTTP/1.1 ${status} `) && r.reply.endsWith(`\r\n\r\n${want}`);
        const line = await sg.proc.waitForLine(
          `the access line of ${path}`,
          (l) => l.type === "access" && l.path === path,
        );
        if (!ok || line.status !== status || line.error !== null)
          failures.push(
            `${path} (${size} B): ${JSON.stringify(r.reply.slice(0, 90))} logged ${line.status} ${String(line.error)}`,
          );
      }
      assert.deepEqual(
        failures,
        [],
        `${failures.length} of ${o.rounds} lost the upstream's answer; ${seedNote(o.seed)}`,
      );
    });
  }
}
