// The setup the h2c tries (test/outside/h2-*) share: a shardgate process in front of one h2c
// pool of node:http2 members (test/support/h2-flow-upstream.ts), a gRPC call on raw node:http2
// (which never enforces grpc-timeout itself), a @grpc/grpc-js client, and the reads of the
// member's error counters and of a request's access line.

import type { ClientHttp2Session, IncomingHttpHeaders } from "node:http2";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { type FlowUpstream, startFlowUpstream } from "./h2-flow-upstream.js";
import { seededRandom, seedNote } from "./prng.js";
import {
  fetchJson,
  type LogLine,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "./shardgate-process.js";

/** One empty length-prefixed gRPC message. */
export const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);
/** grpc-js (de)serializer for raw bytes. */
export const ident = (b: Buffer): Buffer => b;

export interface H2cPoolOptions {
  /** The pool's `timeouts.response` (e.g. "60s", "1500ms"). */
  response: string;
  /** If set, the listener's timeouts: this request timeout, every other one 60-120 s. */
  request?: string;
  /** More pool lines (YAML, 4-space indented), e.g. "    http2: { maxSessions: 1 }\n". */
  poolExtra?: string;
}

/** poolConfig with `protocol: h2c` and the given timeouts. */
export function h2cPoolConfig(members: { id: string; port: number }[], o: H2cPoolOptions): string {
  const yaml = poolConfig({
    members,
    poolExtra: `    protocol: h2c\n    timeouts: { response: ${o.response} }\n${o.poolExtra ?? ""}`,
  });
  if (o.request === undefined) return yaml;
  return yaml.replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  timeouts: { headers: 60s, request: ${o.request}, idle: 120s, keepAlive: 120s, send: 120s }\n`,
  );
}

export interface H2cFixture {
  up: FlowUpstream;
  sg: RunningShardgate;
}

/**
 * One flow member g1 and shardgate in front of it (response timeout 60 s). The caller stops
 * both (stopAll(), up.close()).
 */
export async function startH2cFixture(o: { request?: string } = {}): Promise<H2cFixture> {
  const up = await startFlowUpstream();
  try {
    const sg = await startShardgate(h2cPoolConfig([{ id: "g1", port: up.port }], { response: "60s", ...o }));
    return { up, sg };
  } catch (e) {
    await up.close();
    throw e;
  }
}

/** A @grpc/grpc-js client on shardgate's HTTP listener (the caller closes it). */
export function grpcClient(sg: RunningShardgate): Client {
  return new Client(new URL(sg.httpUrl).host, credentials.createInsecure());
}

/** gRPC metadata naming the tenant (the pool's key header). */
export function tenant(key: string): Metadata {
  const md = new Metadata();
  md.set("x-user-id", key);
  return md;
}

export interface H2Answer {
  head: IncomingHttpHeaders | null;
  trailers: IncomingHttpHeaders | null;
  /** From the request to the stream's close. */
  ms: number;
}

/** One request on raw node:http2 (`body` ends it, none: no body); settles when the stream closes. */
export function h2Call(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<H2Answer> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const st = session.request(headers, { endStream: body === undefined });
    const out: H2Answer = { head: null, trailers: null, ms: 0 };
    st.on("response", (h) => {
      out.head = h;
    });
    st.on("trailers", (tr) => {
      out.trailers = tr;
    });
    st.on("data", () => {});
    st.on("error", () => {});
    st.on("close", () => {
      out.ms = performance.now() - t0;
      resolve(out);
    });
    if (body !== undefined) st.end(body);
  });
}

/** A gRPC call (one empty message) for tenant `key`, with `grpc-timeout` if given. */
export function grpcCall(
  session: ClientHttp2Session,
  path: string,
  key: string,
  timeout?: string,
): Promise<H2Answer> {
  const headers: Record<string, string> = {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    "x-user-id": key,
  };
  if (timeout !== undefined) headers["grpc-timeout"] = timeout;
  return h2Call(session, headers, EMPTY_MESSAGE);
}

/** shardgate_upstream_errors_total of `kind` for `member` of pool users (0 before any). */
export async function memberErrors(s: RunningShardgate, kind: string, member = "g1"): Promise<number> {
  const text = (await fetchJson(`${s.adminUrl}/metrics`)).text;
  return metricValue(text, "shardgate_upstream_errors_total", { pool: "users", member, kind }) ?? 0;
}

/** The access line of the request `requestId`. */
export function accessLineOf(s: RunningShardgate, requestId: string, timeoutMs?: number): Promise<LogLine> {
  return s.proc.waitForLine(
    `the access line of ${requestId}`,
    (l) => l.type === "access" && l.requestId === requestId,
    timeoutMs,
  );
}

/** A key the ring of pool users gives to `member`, drawn from the seeded PRNG (200 draws at most). */
export async function keyOwnedBy(s: RunningShardgate, member: string, seed: number): Promise<string> {
  const random = seededRandom(seed);
  for (let i = 0; i < 200; i++) {
    const k = `user-${Math.floor(random() * 1e9)}`;
    const r = (await fetchJson(`${s.adminUrl}/admin/route?pool=users&key=${k}`)).body as { owner?: string };
    if (r.owner === member) return k;
  }
  throw new Error(`no key owned by ${member} in 200 draws (${seedNote(seed)})`);
}
