// Raw WebSocket/upgrade pieces for tests that look at an upgrade's bytes from the outside: the
// handshake a client writes, the answers a member writes, a handshake read back as status and
// header lines, a node:http member whose upgraded sockets are its own to close, and the timing
// a SIGTERM with an upgraded connection open must keep.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import type { RunningShardgate } from "./shardgate-process.js";
import { scaled } from "./wait.js";

/** A WebSocket handshake's header lines after the request line (RFC 6455's sample key); no blank line. */
export const WEBSOCKET_OFFER =
  "Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/** A member's whole 101 head for a WebSocket. */
export const SWITCHING_PROTOCOLS =
  "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";

/** Refuses an upgrade the way an endpoint without WebSockets does: 426, then the close. */
export function refuseUpgrade(socket: Duplex, extraHeaders = ""): void {
  socket.end(
    `HTTP/1.1 426 Upgrade Required\r\n${extraHeaders}content-length: 0\r\nconnection: close\r\n\r\n`,
  );
}

export interface RawHead {
  status: number;
  /** Header lines by lower-case name, every value in the order sent. */
  headers: Map<string, string[]>;
  /** What came after the head before the read ended. */
  rest: string;
}

/**
 * Writes `request` on a fresh connection to 127.0.0.1:`port` and resolves with the answer's head
 * once it is whole and `enough` (given the text so far and where the head ends) says so, or once
 * the peer closes after a whole head. Rejects when that takes longer than `ms` (scaled).
 */
export function readHead(
  port: number,
  request: string,
  enough: (text: string, headEnd: number) => boolean = () => true,
  ms = 10_000,
): Promise<RawHead> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no whole answer in time: ${JSON.stringify(text)}`));
    }, scaled(ms));
    const finish = (end: number) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ...parseHead(text.slice(0, end)), rest: text.slice(end + 4) });
    };
    s.setEncoding("latin1");
    s.on("error", () => undefined);
    s.on("data", (d: string) => {
      text += d;
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0 && enough(text, end)) finish(end);
    });
    // Nothing more comes once the peer closed: a whole head is the answer.
    s.on("close", () => {
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) finish(end);
    });
    s.write(request);
  });
}

/** A head's status and header lines (`head` without its blank line). */
function parseHead(head: string): Omit<RawHead, "rest"> {
  const [statusLine, ...fields] = head.split("\r\n");
  const headers = new Map<string, string[]>();
  for (const f of fields) {
    const at = f.indexOf(":");
    const name = f.slice(0, at).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), f.slice(at + 1).trim()]);
  }
  return { status: Number(statusLine.split(" ")[1]), headers };
}

export interface UpgradingMember {
  readonly server: Server;
  /** "127.0.0.1:PORT", as a pool member's address. */
  readonly address: string;
  /** Destroys the upgraded sockets (Node's connection tracking no longer has them) and closes. */
  close(): Promise<void>;
}

/**
 * A node:http member on 127.0.0.1 that hands every upgrade to `onUpgrade` (which answers it)
 * and every plain request to `onRequest`.
 */
export async function startUpgradingMember(
  onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end(),
): Promise<UpgradingMember> {
  const upgraded = new Set<Duplex>();
  const server = createServer(onRequest);
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.on("error", () => undefined);
    onUpgrade(req, socket, head);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    server,
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    async close() {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Sends `sg` SIGTERM and asserts what a shutdown with an upgraded connection open must do: exit 0,
 * and both the client's close (`clientClosed` resolves with its time) and the exit within the
 * `drainMs` deadline plus an allowance. The old code ended such a connection with the process,
 * at the deadline + 1 s linger + 2 s grace.
 */
export async function assertSigtermCutsAtDeadline(
  sg: RunningShardgate,
  drainMs: number,
  clientClosed: Promise<number>,
): Promise<void> {
  const stopAt = Date.now();
  sg.proc.signal("SIGTERM");
  const exit = await sg.proc.waitExit(scaled(20_000));
  const exitedAt = Date.now();
  assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());
  const closedAt = await clientClosed;
  const allowance = scaled(1_500);
  assert.ok(
    closedAt - stopAt < drainMs + allowance,
    `the client's close came ${closedAt - stopAt} ms after SIGTERM (drain ${drainMs} ms)`,
  );
  assert.ok(
    exitedAt - stopAt < drainMs + allowance,
    `the process exited ${exitedAt - stopAt} ms after SIGTERM (drain ${drainMs} ms)`,
  );
}
