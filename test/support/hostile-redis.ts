// A fake Redis on loopback that answers the connection handshake (INFO, anything else +OK) like
// a real one, then answers the first script call (EVALSHA / EVAL) of each connection (or the
// command a HostileScript names: a Sentinel's or a Cluster node's own query) with a reply
// that never ends within any sane bound: a bulk string announced as 1e9 bytes whose bytes then
// keep coming, an array announced as 1e9 elements that keep coming, or a simple string whose
// line never ends (no length gives that one away); or ("none") with no reply at all, a Redis
// that has stopped answering though its connection stays up.
// It writes as fast as the reader takes the bytes, up to `capBytes` per connection, and stops
// when the connection closes; `written` says how much the client took.

import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";

/** The endless replies; "none" is a reply that never starts. */
export type EndlessReply = "bulk" | "array" | "line";
export type HostileReply = EndlessReply | "none";

/** Which command a connection answers with the endless reply, and answers to others (RESP text). */
export interface HostileScript {
  /** Default: a script call (EVALSHA / EVAL). */
  floodOn?: (args: readonly string[]) => boolean;
  /** A reply for a command that is not flooded; undefined: INFO as a master, else +OK. */
  answer?: (args: readonly string[]) => string | undefined;
}

const isScriptCall = (args: readonly string[]): boolean => {
  const name = args[0]?.toUpperCase() ?? "";
  return name === "EVALSHA" || name === "EVAL";
};

const INFO = "# Server\r\nredis_version:7.2.0\r\nredis_mode:standalone\r\nloading:0\r\n";
const CHUNK = 64 * 1024;

export class HostileRedis {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Bytes of hostile replies written, all connections together. */
  written = 0;
  /** Hostile replies started (one per connection at most; "none": every call left unanswered). */
  replies = 0;
  /** Connections accepted (the client's reconnects included). */
  connections = 0;
  /** Connections closed while (or after) they carried a hostile reply: the client dropped them. */
  repliesEnded = 0;
  port = 0;

  constructor(
    private readonly kind: HostileReply,
    private readonly capBytes: number,
    private readonly script: HostileScript = {},
  ) {
    this.server = createServer((s) => this.serve(s));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    this.connections++;
    let buf = Buffer.alloc(0);
    let hostile = false;
    socket.on("close", () => {
      this.sockets.delete(socket);
      if (hostile) this.repliesEnded++;
    });
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      if (hostile) return; // the connection is busy with its endless reply
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const parsed = parseCommand(buf);
        if (parsed === null) return;
        buf = buf.subarray(parsed.used);
        const name = parsed.args[0]?.toUpperCase() ?? "";
        if ((this.script.floodOn ?? isScriptCall)(parsed.args)) {
          if (this.kind === "none") {
            this.replies++;
            continue;
          }
          hostile = true;
          this.replies++;
          void this.flood(socket);
          return;
        }
        const answer = this.script.answer?.(parsed.args);
        if (answer !== undefined) socket.write(answer);
        else if (name === "INFO") socket.write(`$${Buffer.byteLength(INFO)}\r\n${INFO}\r\n`);
        else socket.write("+OK\r\n");
      }
    });
  }

  private async flood(socket: Socket): Promise<void> {
    const head = this.kind === "bulk" ? "$1000000000\r\n" : this.kind === "array" ? "*1000000000\r\n" : "+";
    const unit = this.kind === "array" ? ":1\r\n" : "x";
    const chunk = Buffer.from(unit.repeat(CHUNK / unit.length));
    let sent = 0;
    socket.write(head);
    while (sent < this.capBytes && !socket.destroyed && socket.writable) {
      sent += chunk.length;
      this.written += chunk.length;
      if (!socket.write(chunk)) {
        const closed = await new Promise<boolean>((r) => {
          const done = (c: boolean) => {
            socket.off("drain", onDrain);
            socket.off("close", onClose);
            r(c);
          };
          const onDrain = () => done(false);
          const onClose = () => done(true);
          socket.once("drain", onDrain);
          socket.once("close", onClose);
        });
        if (closed) return;
      }
    }
  }
}

/** One RESP command (an array of bulk strings) from the start of `buf`, or null if incomplete. */
function parseCommand(buf: Buffer): { args: string[]; used: number } | null {
  let at = 0;
  const line = (): string | null => {
    const end = buf.indexOf("\r\n", at);
    if (end < 0) return null;
    const s = buf.toString("latin1", at, end);
    at = end + 2;
    return s;
  };
  const head = line();
  if (head === null) return null;
  if (!head.startsWith("*")) return { args: head.split(" "), used: at }; // inline command
  const n = Number(head.slice(1));
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = line();
    if (len === null) return null;
    const size = Number(len.slice(1));
    if (buf.length < at + size + 2) return null;
    args.push(buf.toString("latin1", at, at + size));
    at += size + 2;
  }
  return { args, used: at };
}
