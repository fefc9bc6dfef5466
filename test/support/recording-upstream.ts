// A raw HTTP/1.1 upstream for request-smuggling tests: it keeps the exact bytes every
// connection brought and splits them into requests with its own strict framing (one
// Content-Length of digits, or Transfer-Encoding exactly `chunked` without a Content-Length,
// chunk sizes in plain hex, CRLF everywhere). Each request it reads is answered 200 with
// `x-up-id: <n>` and `up=<n>` in the body (its index in `requests`), so a client can tell which
// answers came from here (over HTTP/2 too, where the head is HPACK-coded).
// Anything it cannot frame that way is a `framingErrors` entry: a proxy in front that
// forwarded it sent ambiguous framing. Bytes left when a connection closes are kept as a
// truncated tail (a proxy cutting an upstream request mid-body leaves one; that is no request).

import { createServer, type Server, type Socket } from "node:net";

export interface RecordedRequest {
  id: number;
  conn: number;
  method: string;
  target: string;
  /** Header lines as received, in order (name and value as written). */
  headers: Array<[string, string]>;
  /** The body as the upstream framed it (chunked decoded). */
  body: Buffer;
  /** The exact bytes of the request, head and body. */
  raw: Buffer;
}

export interface RecordingOptions {
  /**
   * Called as each request is read; a promise returned holds its answer (and the answers of
   * the requests after it on that connection) until it settles.
   */
  holdAnswer?(request: RecordedRequest): Promise<void> | undefined;
}

export interface RecordingUpstream {
  port: number;
  requests: RecordedRequest[];
  /** In order across connections: `seen METHOD target` as a request is read, `answered ...` as its answer is written. */
  events: string[];
  /** A connection whose bytes could not be framed strictly: what was wrong, and the bytes. */
  framingErrors: Array<{ conn: number; reason: string; bytes: string }>;
  /** Bytes left unframed on a connection when it closed (a request cut mid-way). */
  truncated: Array<{ conn: number; bytes: string }>;
  /** Connections accepted and not yet closed. */
  open(): number;
  close(): Promise<void>;
}

class FramingError extends Error {}

export async function startRecordingUpstream(options: RecordingOptions = {}): Promise<RecordingUpstream> {
  const requests: RecordedRequest[] = [];
  const events: string[] = [];
  const framingErrors: RecordingUpstream["framingErrors"] = [];
  const truncated: RecordingUpstream["truncated"] = [];
  const sockets = new Set<Socket>();
  let conns = 0;
  const server: Server = createServer((socket) => {
    const conn = conns++;
    sockets.add(socket);
    let buf = Buffer.alloc(0);
    let broken = false;
    let answers: Promise<void> = Promise.resolve();
    socket.on("data", (d: Buffer) => {
      if (broken) return;
      buf = Buffer.concat([buf, d]);
      try {
        for (;;) {
          const r = frameOne(buf);
          if (r === null) break;
          const id = requests.length;
          const request: RecordedRequest = {
            id,
            conn,
            ...r.request,
            raw: Buffer.from(buf.subarray(0, r.used)),
          };
          requests.push(request);
          buf = buf.subarray(r.used);
          const name = `${request.method} ${request.target}`;
          events.push(`seen ${name}`);
          const body = `seen ${r.request.target} up=${id}`;
          const answer = (): void => {
            events.push(`answered ${name}`);
            socket.write(
              `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-up-id: ${id}\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
            );
          };
          const hold = options.holdAnswer?.(request);
          if (options.holdAnswer === undefined) answer();
          else answers = answers.then(() => hold).then(answer, answer);
        }
      } catch (err) {
        if (!(err instanceof FramingError)) throw err;
        broken = true;
        framingErrors.push({ conn, reason: err.message, bytes: buf.toString("latin1").slice(0, 2000) });
        socket.destroy();
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      if (!broken && buf.length > 0) truncated.push({ conn, bytes: buf.toString("latin1").slice(0, 2000) });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    requests,
    events,
    framingErrors,
    truncated,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

type Framed = { request: Omit<RecordedRequest, "id" | "conn" | "raw">; used: number };

/** One whole request from the front of `buf`, null when more bytes are needed; throws FramingError. */
function frameOne(buf: Buffer): Framed | null {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) {
    if (buf.length > 64 * 1024) throw new FramingError("head over 64 KiB");
    return null;
  }
  const head = buf.toString("latin1", 0, end);
  const lines = head.split("\r\n");
  if (lines.some((l) => /[\0\r\n]/.test(l))) throw new FramingError("NUL, bare CR or bare LF in the head");
  const m = /^([A-Z]+) (\S+) HTTP\/1\.1$/.exec(lines[0]);
  if (m === null) throw new FramingError(`request line ${JSON.stringify(lines[0])}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(line.slice(0, colon)))
      throw new FramingError(`header line ${JSON.stringify(line)}`);
    if (/^[ \t]/.test(line)) throw new FramingError("obs-fold");
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  const cls = headers.filter(([n]) => n.toLowerCase() === "content-length").map(([, v]) => v);
  const tes = headers.filter(([n]) => n.toLowerCase() === "transfer-encoding").map(([, v]) => v);
  let at = end + 4;
  let body = Buffer.alloc(0);
  if (tes.length > 0) {
    if (cls.length > 0) throw new FramingError("Content-Length and Transfer-Encoding");
    if (tes.length > 1 || tes[0].toLowerCase() !== "chunked")
      throw new FramingError(`Transfer-Encoding ${JSON.stringify(tes)}`);
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) return null;
      const sizeLine = buf.toString("latin1", at, eol);
      const sm = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(sizeLine);
      if (sm === null) throw new FramingError(`chunk size line ${JSON.stringify(sizeLine)}`);
      const size = Number.parseInt(sm[1], 16);
      at = eol + 2;
      if (size === 0) break;
      if (buf.length < at + size + 2) return null;
      if (buf[at + size] !== 0x0d || buf[at + size + 1] !== 0x0a)
        throw new FramingError("chunk not followed by CRLF");
      parts.push(buf.subarray(at, at + size));
      at += size + 2;
    }
    // Trailers: a field section ending in an empty line; framing fields there are refused.
    for (;;) {
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) return null;
      const line = buf.toString("latin1", at, eol);
      at = eol + 2;
      if (line === "") break;
      if (/^(content-length|transfer-encoding)\s*:/i.test(line))
        throw new FramingError(`framing trailer ${line}`);
    }
    body = Buffer.concat(parts);
  } else if (cls.length > 0) {
    if (cls.length > 1 || !/^\d{1,9}$/.test(cls[0]))
      throw new FramingError(`Content-Length ${JSON.stringify(cls)}`);
    const n = Number(cls[0]);
    if (buf.length < at + n) return null;
    body = Buffer.from(buf.subarray(at, at + n));
    at += n;
  }
  return { request: { method: m[1], target: m[2], headers, body }, used: at };
}
