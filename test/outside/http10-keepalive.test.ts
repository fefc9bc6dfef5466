// Tried from the outside: HTTP/1.0 clients that ask for keep-alive (ab, old load balancers'
// health checks). shardgate answered every HTTP/1.0 request `connection: close` and closed,
// keep-alive asked or not, so such a client paid a new connection per request. Now, as nginx
// and HAProxy do, a 1.0 keep-alive request whose answer has a known length (Content-Length)
// gets `connection: keep-alive` and keeps its connection; an answer without a length (the
// upstream's chunked one: HTTP/1.0 has no chunked coding, the close ends the body) closes it,
// and a request pipelined behind such a one is never run upstream. A 1.0 request without the
// header is closed after its answer. Both engines, a real shardgate process per engine, a real
// upstream, raw client sockets on loopback.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { ENGINES, type Engine, type PerEngineBehind, startPerEngineBehind } from "../support/per-engine.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

/** Bounds every wait for an answer or a close; only a failure waits this long. */
const DEADLINE_MS = 20_000;

let behind: PerEngineBehind | undefined;
let running: Map<Engine, RunningShardgate>;
/** Paths the upstream was asked for, in order. */
const seen: string[] = [];

before(async () => {
  // /sized/...: a Content-Length answer. /unsized/...: a chunked one (no length).
  behind = await startPerEngineBehind((req, res) => {
    const path = req.url ?? "";
    seen.push(path);
    if (path.startsWith("/unsized/")) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("part-one;");
      setImmediate(() => res.end("part-two"));
      return;
    }
    const body = `answer for ${path}`;
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  running = behind.running;
});

after(async () => {
  await stopAll();
  await behind?.closeUpstream();
});

interface Answer {
  head: string;
  body: string;
}

/** A raw client connection that reads answers one by one (Content-Length or close delimited). */
class RawClient {
  private readonly socket: Socket;
  private buf = "";
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("error", () => {});
    this.socket.on("data", (d: Buffer) => {
      this.buf += d.toString("latin1");
      this.wake?.();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** Resolves once `ready()` holds or the peer closed; rejects after the deadline. */
  private async until(ready: () => boolean, what: string): Promise<void> {
    const deadline = performance.now() + scaled(DEADLINE_MS);
    while (!ready() && !this.closed) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${what} within ${DEADLINE_MS} ms; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** The next answer: its head, and its body by Content-Length (or up to the close). */
  async next(): Promise<Answer> {
    await this.until(() => this.buf.includes("\r\n\r\n"), "answer head");
    const end = this.buf.indexOf("\r\n\r\n");
    assert.ok(end >= 0, `no answer head before the close: ${JSON.stringify(this.buf)}`);
    const head = this.buf.slice(0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length !== null) {
      const n = Number(length[1]);
      await this.until(() => this.buf.length >= end + 4 + n, "answer body");
      const body = this.buf.slice(end + 4, end + 4 + n);
      this.buf = this.buf.slice(end + 4 + n);
      return { head, body };
    }
    await this.until(() => false, "close ending the body");
    const body = this.buf.slice(end + 4);
    this.buf = "";
    return { head, body };
  }

  /** True once the peer closed the connection (waits up to the deadline). */
  async closedByPeer(): Promise<boolean> {
    await this.until(() => false, "close");
    return this.closed;
  }

  /** Whether the peer closed the connection (so far). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes received and not yet taken as an answer. */
  get rest(): string {
    return this.buf;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function portOf(engine: Engine): number {
  const sg = running.get(engine);
  assert.ok(sg !== undefined);
  return Number(new URL(sg.httpUrl).port);
}

function connectionOf(head: string): string {
  return /\r\nconnection: *([^\r]*)/i.exec(head)?.[1]?.toLowerCase() ?? "(none)";
}

const get10 = (path: string, keepAlive: boolean): string =>
  `GET ${path} HTTP/1.0\r\nHost: t\r\nx-user-id: u\r\n${keepAlive ? "Connection: keep-alive\r\n" : ""}\r\n`;

for (const engine of ENGINES) {
  test(`${engine}: two HTTP/1.0 keep-alive requests on one connection are both answered and it stays open`, async () => {
    const c = new RawClient(portOf(engine));
    try {
      for (const n of [1, 2]) {
        const path = `/sized/${engine}/seq-${n}`;
        c.write(get10(path, true));
        const a = await c.next();
        assert.match(a.head, /^HTTP\/1\.1 200 /, a.head);
        assert.equal(a.body, `answer for ${path}`);
        assert.equal(connectionOf(a.head), "keep-alive", `answer ${n}: ${a.head}`);
      }
      // A third request on the same connection proves it was kept (a closed one answers nothing).
      c.write(get10(`/sized/${engine}/seq-3`, true));
      const third = await c.next();
      assert.equal(third.body, `answer for /sized/${engine}/seq-3`);
      assert.equal(c.isClosed, false, "the connection was kept");
    } finally {
      c.destroy();
    }
  });

  test(`${engine}: two pipelined HTTP/1.0 keep-alive requests with sized answers are both answered, in order`, async () => {
    const c = new RawClient(portOf(engine));
    try {
      const a = `/sized/${engine}/pipe-a`;
      const b = `/sized/${engine}/pipe-b`;
      c.write(get10(a, true) + get10(b, true));
      const first = await c.next();
      const second = await c.next();
      assert.equal(first.body, `answer for ${a}`);
      assert.equal(second.body, `answer for ${b}`);
      assert.equal(connectionOf(second.head), "keep-alive", second.head);
    } finally {
      c.destroy();
    }
  });

  test(`${engine}: an HTTP/1.0 request without keep-alive is answered, then closed`, async () => {
    const c = new RawClient(portOf(engine));
    try {
      const path = `/sized/${engine}/no-ka`;
      c.write(get10(path, false));
      const a = await c.next();
      assert.equal(a.body, `answer for ${path}`);
      assert.equal(connectionOf(a.head), "close", a.head);
      assert.equal(await c.closedByPeer(), true, "shardgate closed the connection");
    } finally {
      c.destroy();
    }
  });

  test(`${engine}: an HTTP/1.0 keep-alive request whose answer has no length is closed after it; one pipelined behind it is never run`, async () => {
    const c = new RawClient(portOf(engine));
    try {
      const path = `/unsized/${engine}/ka`;
      const behind = `/sized/${engine}/behind-unsized`;
      c.write(get10(path, true) + get10(behind, true));
      const a = await c.next();
      assert.match(a.head, /^HTTP\/1\.1 200 /, a.head);
      assert.equal(connectionOf(a.head), "close", a.head);
      assert.equal(a.body, "part-one;part-two", "the close ends the body, nothing after it");
      assert.equal(c.isClosed, true, "closed after the answer");
      assert.equal(c.rest, "");
      assert.ok(seen.includes(path));
      // The close came after the upstream answered the first: a second one run upstream would
      // have been asked by then (it was run in parallel before the order rule).
      assert.ok(!seen.includes(behind), `the request behind it reached the upstream: ${seen.join(" ")}`);
    } finally {
      c.destroy();
    }
  });
}
