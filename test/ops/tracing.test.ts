// Tracing end to end with real processes: shardgate (tracing.enabled) exports OpenTelemetry
// spans over OTLP/HTTP to an in-process collector stand-in, and forwards a W3C traceparent per
// attempt. Checked: the request's SERVER span continues the caller's trace, each attempt is a
// CLIENT child span whose id is the parent the upstream sees, tracestate is carried, the
// attributes (route, key hash, member, ring version, attempt, retry reason) match the admin
// API's route explanation, and a retried request has one span per attempt with the reason.
// With tracing off (the default) the caller's traceparent reaches the upstream untouched.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  eventually,
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoBody, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number>;
  status?: { code?: number; message?: string };
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
};

/** A minimal OTLP/HTTP JSON traces receiver: collects every span posted to /v1/traces. */
class OtlpReceiver {
  readonly spans: OtlpSpan[] = [];
  readonly contentTypes = new Set<string>();
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.contentTypes.add(String(req.headers["content-type"]));
        if (req.url === "/v1/traces" && req.method === "POST") {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
          };
          for (const rs of body.resourceSpans)
            for (const ss of rs.scopeSpans)
              for (const s of ss.spans) {
                const attributes: Record<string, string | number> = {};
                for (const a of (s.attributes as Array<{ key: string; value: AnyValue }>) ?? []) {
                  const v = a.value;
                  attributes[a.key] =
                    v.stringValue ??
                    (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? String(v.boolValue)));
                }
                this.spans.push({
                  traceId: String(s.traceId),
                  spanId: String(s.spanId),
                  parentSpanId:
                    s.parentSpanId === undefined || s.parentSpanId === ""
                      ? undefined
                      : String(s.parentSpanId),
                  name: String(s.name),
                  kind: Number(s.kind),
                  attributes,
                  status: s.status as OtlpSpan["status"],
                });
              }
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server?.closeAllConnections();
      this.server?.close(() => r());
    });
  }
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

function parseTraceparent(v: unknown): { traceId: string; spanId: string; flags: string } {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(v));
  assert.ok(m !== null, `a W3C traceparent, got ${String(v)}`);
  return { traceId: m[1], spanId: m[2], flags: m[3] };
}

describe("tracing: W3C traceparent per attempt and OTLP spans", () => {
  const receiver = new OtlpReceiver();
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let plain: RunningShardgate;

  before(async () => {
    await receiver.start();
    ups = await startUpstreams(3, "t");
    const members = ups.map((u) => ({ id: u.id, port: u.port }));
    const yaml = poolConfig({
      members,
      accessLog: false,
      poolExtra: "    retry: { attempts: 3, budgetRatio: 1 }",
    });
    sg = await startShardgate(
      `${yaml}tracing:\n  enabled: true\n  otlpEndpoint: "${receiver.url}"\n  serviceName: sg-test\n`,
    );
    plain = await startShardgate(poolConfig({ members, accessLog: false }));
  });
  after(async () => {
    await sg?.stop();
    await plain?.stop();
    await stopAll();
    await closeAll(ups ?? []);
    await receiver.close();
  });

  test("one attempt: the caller's trace continues, the upstream's parent is the attempt span", async () => {
    const r = await fetchJson(`${sg.httpUrl}/`, {
      headers: {
        "x-user-id": "alice",
        traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`,
        tracestate: "vendor=abc",
      },
    });
    assert.equal(r.status, 200, r.text);
    const seen = (r.body as EchoBody).headers;
    const tp = parseTraceparent(seen.traceparent);
    assert.equal(tp.traceId, TRACE_ID, "same trace");
    assert.notEqual(tp.spanId, CALLER_SPAN, "a new parent: the attempt span");
    assert.equal(tp.flags, "01");
    assert.equal(seen.tracestate, "vendor=abc", "tracestate carried");
    const explain = (await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=alice`)).body as {
      member: string;
      keyHash: number;
      ringVersion: number;
    };

    const attempt = await eventually(
      "the attempt span",
      () => receiver.spans.find((s) => s.spanId === tp.spanId),
      15_000,
    );
    const server = await eventually(
      "the server span",
      () => receiver.spans.find((s) => s.spanId === attempt.parentSpanId),
      15_000,
    );
    assert.equal(server.kind, SPAN_KIND_SERVER);
    assert.equal(server.traceId, TRACE_ID);
    assert.equal(server.parentSpanId, CALLER_SPAN, "the server span is the caller's child");
    assert.equal(attempt.kind, SPAN_KIND_CLIENT);
    assert.deepEqual(
      {
        route: attempt.attributes["shardgate.route"],
        pool: attempt.attributes["shardgate.pool"],
        keyHash: attempt.attributes["shardgate.key_hash"],
        member: attempt.attributes["shardgate.member"],
        ringVersion: attempt.attributes["shardgate.ring_version"],
        attempt: attempt.attributes["shardgate.attempt"],
        retry: attempt.attributes["shardgate.retry_reason"],
        status: attempt.attributes["http.response.status_code"],
      },
      {
        route: server.attributes["shardgate.route"],
        pool: "users",
        keyHash: explain.keyHash,
        member: explain.member,
        ringVersion: explain.ringVersion,
        attempt: 1,
        retry: undefined,
        status: 200,
      },
    );
    assert.equal((r.body as EchoBody).member, explain.member);
    assert.equal(server.attributes["shardgate.attempts"], 1);
    assert.equal(server.attributes["http.response.status_code"], 200);
    assert.ok(String(server.attributes["shardgate.route"]).length > 0, "route label set");
    assert.ok(
      [...receiver.contentTypes].some((c) => c.startsWith("application/json")),
      [...receiver.contentTypes].join(),
    );
  });

  test("a retried request: one span per attempt, the second with the retry reason", async () => {
    const explain = (await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=bob`)).body as {
      member: string;
    };
    const owner = ups.find((u) => u.id === explain.member) as EchoUpstream;
    owner.mode = { kind: "reset" };
    let r: Awaited<ReturnType<typeof fetchJson>>;
    try {
      r = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": "bob" } });
    } finally {
      owner.mode = { kind: "echo" };
    }
    assert.equal(r.status, 200, r.text);
    const servedBy = (r.body as EchoBody).member;
    assert.notEqual(servedBy, owner.id);
    const tp = parseTraceparent((r.body as EchoBody).headers.traceparent);
    const second = await eventually(
      "attempt 2 span",
      () => receiver.spans.find((s) => s.spanId === tp.spanId),
      15_000,
    );
    // The owner resets every connection. When the first attempt went out on a connection kept
    // alive from an earlier test, the close looks like a stale keep-alive connection and the
    // owner is tried once more over a fresh one (stale-connection.ts) before the key moves on:
    // 2 attempts or 3, every one before the last on the owner, failed with `reset`.
    const attempts = await eventually(
      "every attempt span",
      () => {
        const spans = receiver.spans.filter(
          (s) => s.parentSpanId === second.parentSpanId && s.kind === SPAN_KIND_CLIENT,
        );
        return spans.length === Number(second.attributes["shardgate.attempt"]) ? spans : undefined;
      },
      15_000,
    );
    attempts.sort(
      (a, b) => Number(a.attributes["shardgate.attempt"]) - Number(b.attributes["shardgate.attempt"]),
    );
    assert.ok(attempts.length === 2 || attempts.length === 3, `attempts: ${attempts.length}`);
    assert.equal(attempts[attempts.length - 1], second);
    for (const [i, failed] of attempts.slice(0, -1).entries()) {
      assert.equal(failed.attributes["shardgate.attempt"], i + 1);
      assert.equal(failed.attributes["shardgate.member"], owner.id);
      assert.equal(failed.attributes["shardgate.upstream_error"], "reset");
      assert.equal(failed.status?.code, 2, `attempt ${i + 1} failed (status ERROR)`);
      if (i > 0) assert.equal(failed.attributes["shardgate.retry_reason"], "reset");
    }
    assert.equal(second.attributes["shardgate.member"], servedBy);
    assert.equal(second.attributes["shardgate.retry_reason"], "reset");
    const server = await eventually(
      "server span",
      () => receiver.spans.find((s) => s.spanId === second.parentSpanId),
      15_000,
    );
    assert.equal(server.parentSpanId, undefined, "no caller trace: a new root");
    assert.equal(server.attributes["shardgate.attempts"], attempts.length);
  });

  test("a method outside HTTP's known set: span name `HTTP users`, method `_OTHER`, original kept", async () => {
    // The method is the client's choice: a span name built from it gives a trace backend one
    // name per invented method (OpenTelemetry HTTP semantic conventions).
    const spanNames = async (method: string) => {
      const r = await fetchJson(`${sg.httpUrl}/`, { method, headers: { "x-user-id": "bob" } });
      assert.equal(r.status, 200, r.text);
      assert.equal((r.body as EchoBody).method, method);
      const tp = parseTraceparent((r.body as EchoBody).headers.traceparent);
      const attempt = await eventually(
        `the ${method} attempt span`,
        () => receiver.spans.find((s) => s.spanId === tp.spanId),
        15_000,
      );
      return eventually(
        `the ${method} server span`,
        () => receiver.spans.find((s) => s.spanId === attempt.parentSpanId),
        15_000,
      );
    };
    const other = await spanNames("PURGE");
    assert.equal(other.name, "HTTP users");
    assert.equal(other.attributes["http.request.method"], "_OTHER");
    assert.equal(other.attributes["http.request.method_original"], "PURGE");
    const known = await spanNames("DELETE");
    assert.equal(known.name, "DELETE users");
    assert.equal(known.attributes["http.request.method"], "DELETE");
    assert.equal(known.attributes["http.request.method_original"], undefined);
  });

  test("tracing off (the default): the caller's traceparent reaches the upstream untouched", async () => {
    const tp = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
    const r = await fetchJson(`${plain.httpUrl}/`, {
      headers: { "x-user-id": "carol", traceparent: tp, tracestate: "v=1" },
    });
    assert.equal(r.status, 200);
    assert.equal((r.body as EchoBody).headers.traceparent, tp);
    assert.equal((r.body as EchoBody).headers.tracestate, "v=1");
  });
});
