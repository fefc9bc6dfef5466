// The ways one routing key can reach shardgate, each answering "which member served it": for the
// key-spelling differential tests (test/outside/key-spelling-*.test.ts). The members are h2c
// servers (a gRPC call needs an HTTP/2 pool) that name themselves in an `x-member` response
// header, on a gRPC answer too. Carriers: raw HTTP/1.x bytes (any header lines, HTTP/1.0, TLS, a
// PROXY v1/v2 header first), node:http, node:http2 (h2c prior knowledge or TLS with ALPN) and
// @grpc/grpc-js metadata.

import { request as httpRequest } from "node:http";
import {
  type ClientHttp2Session,
  createServer as createH2Server,
  connect as h2connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import { type AddressInfo, isIPv4, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { frame, literal } from "./h2-frames.js";
import { trackH2Sessions } from "./tracked-connections.js";
import { scaled } from "./wait.js";

/** What a carrier saw: the status and the member that answered ("" when none did). */
export interface Served {
  status: number;
  member: string;
}

export interface MemberServer {
  id: string;
  port: number;
  close(): Promise<void>;
}

/**
 * An h2c member that answers every request 200 (a gRPC call with an OK status) and names itself;
 * a request carrying `x-probe` is also noted in `seen` (probe -> member), for clients that cannot
 * read the answer's headers (rawH2Get).
 */
export async function startNamingMember(id: string, seen?: Map<string, string>): Promise<MemberServer> {
  const server = createH2Server();
  const close = trackH2Sessions(server);
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on("error", () => undefined);
    const probe = headers["x-probe"];
    if (seen !== undefined && typeof probe === "string") seen.set(probe, id);
    stream.resume();
    stream.on("end", () => {
      if (stream.destroyed) return;
      const ct = headers["content-type"];
      if (typeof ct === "string" && ct.startsWith("application/grpc")) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "x-member": id },
          { waitForTrailers: true },
        );
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
        return;
      }
      stream.respond({ ":status": 200, "content-type": "text/plain", "x-member": id });
      stream.end(id);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { id, port: (server.address() as AddressInfo).port, close };
}

export interface RawH1Options {
  /** "1.1" (default) or "1.0". */
  version?: "1.1" | "1.0";
  /** Bytes written before the request (a PROXY protocol header). */
  preface?: Buffer;
  /** Connect with TLS (ALPN http/1.1), trusting this CA. */
  tlsCa?: Buffer;
}

/**
 * One request written as raw bytes: `lines` are header lines exactly as sent ("Cookie: a=1"),
 * so repeated fields and odd whitespace reach the server as written (Host is "keys.test" unless
 * `lines` has one). The connection is closed
 * after the answer; resolves with its status and `x-member`, or rejects after `ms` (scaled).
 */
export function rawH1(
  port: number,
  target: string,
  lines: readonly string[],
  o: RawH1Options = {},
  ms = 20_000,
): Promise<Served> {
  const host = lines.some((l) => /^host:/i.test(l)) ? "" : "Host: keys.test\r\n";
  const head = `GET ${target} HTTP/${o.version ?? "1.1"}\r\n${host}${lines.map((l) => `${l}\r\n`).join("")}Connection: close\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const s: Socket =
      o.tlsCa === undefined
        ? netConnect(port, "127.0.0.1")
        : tlsConnect({ port, host: "127.0.0.1", ca: o.tlsCa, ALPNProtocols: ["http/1.1"] });
    let reply = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no complete answer to ${target} in ${scaled(ms)} ms; got ${JSON.stringify(reply)}`));
    }, scaled(ms));
    s.setEncoding("latin1");
    s.on("data", (d: string) => {
      reply += d;
    });
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(reply);
      if (m === null) {
        reject(new Error(`no HTTP answer to ${target}: ${JSON.stringify(reply)}`));
        return;
      }
      const member = /\r\nx-member: ([^\r]*)\r\n/i.exec(reply.slice(0, reply.indexOf("\r\n\r\n") + 2));
      resolve({ status: Number(m[1]), member: member === null ? "" : member[1] });
    });
    const send = (): void => {
      if (o.preface !== undefined) s.write(o.preface);
      s.write(head);
    };
    if (o.tlsCa === undefined) send();
    else s.once("secureConnect", send);
  });
}

/** One request through node:http (a fresh connection). */
export function nodeHttp(
  port: number,
  path: string,
  headers: Record<string, string | string[]>,
): Promise<Served> {
  // A field given once goes as a string (node:http wants Host as one).
  const one: Record<string, string | string[]> = {};
  for (const [n, v] of Object.entries(headers)) one[n] = Array.isArray(v) && v.length === 1 ? v[0] : v;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers: one, agent: false }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, member: String(res.headers["x-member"] ?? "") }),
      );
    });
    req.setTimeout(scaled(20_000), () => req.destroy(new Error(`node:http ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * An HTTP/2 session: h2c prior knowledge, or TLS (ALPN h2) when `ca` is given; with `preface`
 * (a PROXY header) written on the plain connection before the HTTP/2 preface.
 */
export function h2Session(port: number, ca?: Buffer, preface?: Buffer): ClientHttp2Session {
  const s =
    ca !== undefined
      ? h2connect(`https://127.0.0.1:${port}`, { ca })
      : preface !== undefined
        ? h2connect(`http://127.0.0.1:${port}`, {
            createConnection: () => {
              const c = netConnect(port, "127.0.0.1");
              c.write(preface);
              return c;
            },
          })
        : h2connect(`http://127.0.0.1:${port}`);
  s.on("error", () => undefined);
  return s;
}

/** One request on `session`; array header values go out as separate fields (cookie crumbs). */
export function h2Get(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders,
): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": path, ...headers });
    let status = 0;
    let member = "";
    req.on("response", (h) => {
      status = Number(h[":status"]);
      member = String(h["x-member"] ?? "");
    });
    req.setTimeout(scaled(20_000), () => req.close());
    req.on("error", reject);
    req.resume();
    req.on("close", () =>
      status === 0 ? reject(new Error(`h2 ${path}: no answer`)) : resolve({ status, member }),
    );
    req.end();
  });
}

const ident = (b: Buffer): Buffer => b;

/** A unary gRPC call to `path` with `metadata` (repeated values go out as separate fields). */
export function grpcCall(client: Client, path: string, metadata: Record<string, string[]>): Promise<Served> {
  const md = new Metadata();
  for (const [k, vs] of Object.entries(metadata)) for (const v of vs) md.add(k, v);
  return new Promise((resolve) => {
    let member = "";
    const call = client.makeUnaryRequest(
      path,
      ident,
      ident,
      Buffer.alloc(0),
      md,
      { deadline: Date.now() + scaled(20_000) },
      (err) => resolve({ status: err === null ? 200 : 500 + (err.code ?? 0), member }),
    );
    call.on("metadata", (m: Metadata) => {
      member = String(m.get("x-member")[0] ?? "");
    });
  });
}

/** A grpc-js client for a plain (h2c) listener. */
export function grpcClient(port: number): Client {
  return new Client(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** A PROXY v1 line for a TCP connection from `source` (IPv4 or IPv6 text, sent as written). */
export function proxyV1(source: string, family: "TCP4" | "TCP6"): Buffer {
  const dest = family === "TCP4" ? "127.0.0.1" : "::1";
  return Buffer.from(`PROXY ${family} ${source} ${dest} 40000 80\r\n`, "latin1");
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A PROXY v2 PROXY/STREAM header from `source`: AF_INET for dotted text, AF_INET6 otherwise. */
export function proxyV2(source: string): Buffer {
  const v4 = isIPv4(source);
  const addr = v4 ? Buffer.from(source.split(".").map(Number)) : ipv6Bytes(source);
  const dest = v4 ? Buffer.from([127, 0, 0, 1]) : ipv6Bytes("::1");
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(40000, 0);
  ports.writeUInt16BE(80, 2);
  const body = Buffer.concat([addr, dest, ports]);
  const head = Buffer.from([0x21, v4 ? 0x11 : 0x21, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

/** The 16 bytes of an IPv6 address written with or without "::" (no embedded dotted tail). */
export function ipv6Bytes(text: string): Buffer {
  const [left, right] = text.includes("::") ? text.split("::") : [text, undefined];
  const l = left === "" ? [] : left.split(":");
  const r = right === undefined || right === "" ? [] : right.split(":");
  const groups = [...l, ...Array(8 - l.length - r.length).fill("0"), ...r];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i], 16), i * 2);
  return out;
}

/** HPACK: a literal field without indexing whose name is static-table entry `index` (short values). */
function literalIndexedName(index: number, value: string): Buffer {
  const v = Buffer.from(value, "latin1");
  return Buffer.concat([Buffer.from([index, v.length]), v]);
}

/**
 * A GET on a raw h2c connection whose header block is written field by field, so a field can be
 * repeated where node:http2's client refuses to (If-None-Match, Range: it treats them as single
 * values). Resolves with the answer's status (200 and 400 read from the static table, else 0)
 * once the answer's HEADERS frame arrives; the member is learnt from `x-probe` (startNamingMember).
 */
export function rawH2Get(
  port: number,
  path: string,
  fields: readonly [string, string][],
  ms = 20_000,
): Promise<number> {
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http
    literalIndexedName(0x04, path),
    literalIndexedName(0x01, "keys.test"),
    ...fields.map(([n, v]) => literal(n, v)),
  ]);
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
  return new Promise((resolve, reject) => {
    const s = netConnect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`raw h2 ${path}: no answer in ${scaled(ms)} ms`));
    }, scaled(ms));
    const done = (status: number): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(status);
    };
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      reject(new Error(`raw h2 ${path}: closed before an answer`));
    });
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3];
        const flags = buf[4];
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 0x4 && (flags & 0x1) === 0) s.write(frame(0x4, 0x1, 0));
        if (type === 0x1 && stream === 1) done(payload[0] === 0x88 ? 200 : payload[0] === 0x8c ? 400 : 0);
        if (type === 0x3 && stream === 1) done(-1); // RST_STREAM
      }
    });
    s.write(Buffer.concat([preface, frame(0x4, 0, 0), frame(0x1, 0x5, 1, block)]));
  });
}
