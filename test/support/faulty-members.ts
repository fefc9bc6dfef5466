// Upstream members that misbehave on a schedule the test chose, and record what they saw.
// Each request names its fault in its path (/<prefix>/<id>/<fault>/<size>); the fault applies
// to the request's first attempt only (the first member any attempt of that id reached), so a
// retry is answered and "which attempt answered" is known. Every attempt is recorded in one
// book shared by the members: who saw it, what it did, how many body bytes it wrote, and
// whether it finished its answer or saw the connection close first.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * What the first attempt does. ok: 200 with `size` bytes. e503: 503 with a short body.
 * reset: destroys the connection without a byte. slow: sends nothing until the connection
 * closes (a first-byte timeout). hold: the same, for a client that leaves before any answer.
 * partial: a 200 head and 1,000 of `size` bytes, then nothing until the connection closes.
 */
export type Fault = "ok" | "e503" | "reset" | "slow" | "hold" | "partial";

export const PARTIAL_BYTES = 1000;

export interface Attempt {
  readonly member: string;
  readonly fault: Fault;
  /** Body bytes written to the connection. */
  bytes: number;
  /** The answer was written in full. */
  finished: boolean;
  /** The connection closed before the answer was finished. */
  closed: boolean;
}

export interface MemberBook {
  /** Attempts by request id, in arrival order. */
  readonly attempts: Map<string, Attempt[]>;
  /** Resolves once an attempt of `id` has arrived (or rejects after `ms`). */
  arrived(id: string, ms: number): Promise<void>;
}

export interface FaultyMember {
  readonly id: string;
  readonly port: number;
  close(): Promise<void>;
}

export function newBook(): MemberBook {
  const attempts = new Map<string, Attempt[]>();
  const waiters = new Map<string, Array<() => void>>();
  const book = {
    attempts,
    arrived(id: string, ms: number): Promise<void> {
      if (attempts.has(id)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no member saw request ${id} within ${ms} ms`)), ms);
        const list = waiters.get(id) ?? [];
        list.push(() => {
          clearTimeout(timer);
          resolve();
        });
        waiters.set(id, list);
      });
    },
    note(id: string, a: Attempt): void {
      const list = attempts.get(id) ?? [];
      list.push(a);
      attempts.set(id, list);
      for (const w of waiters.get(id) ?? []) w();
      waiters.delete(id);
    },
  };
  return book;
}

const FILL = Buffer.alloc(64 * 1024, 0x61);

function writeBody(res: ServerResponse, a: Attempt, n: number): void {
  for (let left = n; left > 0; ) {
    const chunk = Math.min(left, FILL.length);
    res.write(FILL.subarray(0, chunk));
    a.bytes += chunk;
    left -= chunk;
  }
}

/** Starts a member `id` on an ephemeral loopback port, recording into `book` (from newBook). */
export async function startFaultyMember(id: string, book: MemberBook): Promise<FaultyMember> {
  const note = (book as MemberBook & { note(id: string, a: Attempt): void }).note;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts = (req.url ?? "/").split("?")[0].split("/");
    const reqId = `${parts[1]}/${parts[2]}`;
    const first = !book.attempts.has(reqId);
    const fault: Fault = first ? ((parts[3] ?? "ok") as Fault) : "ok";
    const size = Number(parts[4] ?? "0") || 0;
    const a: Attempt = { member: id, fault, bytes: 0, finished: false, closed: false };
    note(reqId, a);
    res.on("close", () => {
      if (!a.finished) a.closed = true;
    });
    req.resume();
    const done = (): void => {
      res.end(() => {
        a.finished = true;
      });
    };
    switch (fault) {
      case "reset":
        req.socket.destroy();
        return;
      case "slow":
      case "hold":
        return;
      case "e503":
        res.writeHead(503, { "content-type": "text/plain", "content-length": "4" });
        res.write("busy");
        a.bytes += 4;
        done();
        return;
      case "partial":
        res.writeHead(200, { "content-type": "text/plain", "content-length": String(size) });
        writeBody(res, a, Math.min(PARTIAL_BYTES, size));
        return;
      default:
        res.writeHead(200, { "content-type": "text/plain", "content-length": String(size) });
        writeBody(res, a, size);
        done();
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    id,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
