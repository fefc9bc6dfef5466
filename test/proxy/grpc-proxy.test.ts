// gRPC through shardgate with real @grpc/grpc-js clients and servers: an h2c pool of three
// echo servers, routed by the `x-tenant` metadata key. Unary, server-streaming,
// client-streaming and bidirectional calls; trailing metadata passed through; the upstream's
// own status passed through; `grpc-timeout` becoming the upstream deadline; and the proxy's
// own errors answered as gRPC status (UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED).

import assert from "node:assert/strict";
import { test } from "node:test";
import { type Client, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ECHO_SERVICE, echoClient, type GrpcEcho, SLOW_MS, startGrpcEcho } from "../support/grpc-echo.js";
import { h2Session } from "../support/h2-client.js";
import { eventuallyTrue } from "../support/wait.js";
import { startHarness } from "./harness.js";

const ident = (b: Buffer): Buffer => b;

interface Outcome {
  code: number;
  details: string;
  replies: string[];
  trailers: Metadata;
}

function md(tenant: string): Metadata {
  const m = new Metadata();
  m.set("x-tenant", tenant);
  return m;
}

function unary(
  client: Client,
  name: keyof typeof ECHO_SERVICE,
  body: string,
  meta: Metadata,
  deadlineMs = 20_000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const replies: string[] = [];
    const call = client.makeUnaryRequest(
      ECHO_SERVICE[name].path,
      ident,
      ident,
      Buffer.from(body),
      meta,
      { deadline: Date.now() + deadlineMs },
      (_err: ServiceError | null, value?: Buffer) => {
        if (value !== undefined) replies.push(value.toString());
      },
    );
    call.on("status", (st) =>
      setImmediate(() => resolve({ code: st.code, details: st.details, replies, trailers: st.metadata })),
    );
  });
}

async function pool(t: { after(fn: () => unknown): void }) {
  const servers: GrpcEcho[] = [];
  for (let i = 0; i < 3; i++) servers.push(await startGrpcEcho(`g${i}`));
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const h = await startHarness({
    members: 1,
    config: () => ({
      pools: {
        grpc: {
          protocol: "h2c",
          members: servers.map((s) => ({ id: s.id, address: `127.0.0.1:${s.port}` })),
          timeouts: { response: "10s" },
        },
      },
      routes: [{ pool: "grpc", key: ["header:x-tenant"], onMissingKey: "reject" }],
    }),
  });
  t.after(() => h.close());
  const client = echoClient(h.port);
  t.after(() => client.close());
  return { servers, h, client };
}

test("gRPC unary through shardgate: one tenant, one member; trailers and upstream status pass through", async (t) => {
  const { h, client } = await pool(t);
  const owners = new Map<string, string>();
  for (let i = 0; i < 9; i++) {
    const tenant = `tenant-${i % 3}-${Math.floor(i / 3)}`;
    for (let rep = 0; rep < 2; rep++) {
      const r = await unary(client, "Unary", `hi${i}`, md(tenant));
      assert.equal(r.code, status.OK, r.details);
      const [member, text] = r.replies[0].split(":");
      assert.equal(text, `hi${i}`);
      assert.equal(r.trailers.get("x-served-by")[0], member, "trailing metadata lost");
      const prev = owners.get(tenant);
      if (prev !== undefined) assert.equal(member, prev, `tenant ${tenant} moved between members`);
      owners.set(tenant, member);
    }
  }
  assert.ok(new Set(owners.values()).size >= 2, `9 tenants all on one member: ${[...owners.values()]}`);
  // The upstream's own error status reaches the client unchanged.
  const failed = await unary(client, "Fail", "x", md("tenant-0-0"));
  assert.equal(failed.code, status.NOT_FOUND);
  assert.match(failed.details, /no such thing on g\d/);
  // The access log sees gRPC calls as any request (POST to the method path, routed, keyed).
  assert.ok(
    await eventuallyTrue(() =>
      h.rec.ends.some((e) => e.path === ECHO_SERVICE.Unary.path && e.status === 200),
    ),
  );
  const rec = h.rec.ends.find((e) => e.path === ECHO_SERVICE.Unary.path);
  assert.equal(rec?.pool, "grpc");
  assert.equal(rec?.method, "POST");
});

test("gRPC server-streaming, client-streaming and bidirectional calls through shardgate", async (t) => {
  const { client } = await pool(t);
  // Server streaming: 50 replies, all from the tenant's member.
  const server = await new Promise<Outcome>((resolve) => {
    const replies: string[] = [];
    const call = client.makeServerStreamRequest(
      ECHO_SERVICE.ServerStream.path,
      ident,
      ident,
      Buffer.from("50"),
      md("s"),
    );
    call.on("data", (b: Buffer) => replies.push(b.toString()));
    call.on("status", (st) =>
      resolve({ code: st.code, details: st.details, replies, trailers: st.metadata }),
    );
    call.on("error", () => undefined);
  });
  assert.equal(server.code, status.OK, server.details);
  assert.equal(server.replies.length, 50);
  const member = server.replies[0].split(":")[0];
  assert.deepEqual(
    server.replies,
    Array.from({ length: 50 }, (_, i) => `${member}:${i}`),
  );
  assert.equal(server.trailers.get("x-served-by")[0], member);

  // Client streaming: 20 messages in, one joined answer out.
  const clientStream = await new Promise<Outcome>((resolve) => {
    const replies: string[] = [];
    const call = client.makeClientStreamRequest(
      ECHO_SERVICE.ClientStream.path,
      ident,
      ident,
      md("s"),
      {},
      (_e, v) => {
        if (v !== undefined) replies.push(v.toString());
      },
    );
    call.on("status", (st) =>
      setImmediate(() => resolve({ code: st.code, details: st.details, replies, trailers: st.metadata })),
    );
    for (let i = 0; i < 20; i++) call.write(Buffer.from(`m${i}`));
    call.end();
  });
  assert.equal(clientStream.code, status.OK, clientStream.details);
  assert.equal(
    clientStream.replies[0],
    `${member}:${Array.from({ length: 20 }, (_, i) => `m${i}`).join(",")}`,
  );

  // Bidirectional: each message answered before the next is sent (a real conversation).
  const bidi = client.makeBidiStreamRequest(ECHO_SERVICE.Bidi.path, ident, ident, md("s"));
  const done = new Promise<{ code: number; trailers: Metadata }>((resolve) =>
    bidi.on("status", (st) => resolve({ code: st.code, trailers: st.metadata })),
  );
  bidi.on("error", () => undefined);
  const next = (): Promise<string> => new Promise((r) => bidi.once("data", (b: Buffer) => r(b.toString())));
  for (let i = 0; i < 10; i++) {
    const reply = next();
    bidi.write(Buffer.from(`ping${i}`));
    assert.equal(await reply, `${member}:ping${i}`);
  }
  bidi.end();
  const end = await done;
  assert.equal(end.code, status.OK);
  assert.equal(end.trailers.get("x-served-by")[0], member);
});

test("grpc-timeout is the upstream deadline: DEADLINE_EXCEEDED in time, upstream told the remaining time", async (t) => {
  const { servers, h, client } = await pool(t);
  // A deadline a loaded machine still forwards within (at 400 ms, CI-like load let it lapse
  // before shardgate forwarded the call: no call upstream), far short of the upstream's answer.
  const DEADLINE_MS = 2000;
  const BOUND_MS = SLOW_MS - 2000;
  const started = performance.now();
  const r = await unary(client, "Slow", "x", md("slow"), DEADLINE_MS);
  const took = performance.now() - started;
  assert.equal(r.code, status.DEADLINE_EXCEEDED, r.details);
  assert.ok(
    took < BOUND_MS,
    `deadline ${DEADLINE_MS} ms took ${Math.round(took)} ms (the upstream answers at ${SLOW_MS} ms)`,
  );
  // The member got the call with a deadline no later than the client's (what was left of it).
  const left = servers.flatMap((s) => s.deadlinesLeft);
  assert.equal(left.length, 1, `calls with a deadline upstream: ${left}`);
  assert.ok(left[0] > 0 && left[0] <= DEADLINE_MS, `upstream deadline ${left[0]} ms away`);
  // The client's deadline is not the member's failure.
  assert.equal(h.rec.upstreamErrors.length, 0, JSON.stringify(h.rec.upstreamErrors));

  // A client that does not enforce its own deadline (raw HTTP/2, grpc-timeout 300m) gets
  // DEADLINE_EXCEEDED from shardgate, as a trailers-only answer, long before the upstream's answer.
  const session = await h2Session(t, `http://127.0.0.1:${h.port}`);
  const t0 = performance.now();
  const raw = await new Promise<{ head: Record<string, unknown>; body: number }>((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": ECHO_SERVICE.Slow.path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "300m",
      "x-tenant": "slow",
    });
    let head: Record<string, unknown> = {};
    let body = 0;
    stream.on("response", (hd) => {
      head = hd;
    });
    stream.on("data", (c: Buffer) => {
      body += c.length;
    });
    stream.on("end", () => resolve({ head, body }));
    stream.on("error", reject);
    // One length-prefixed message: flag 0, length 1, "x".
    stream.end(Buffer.from([0, 0, 0, 0, 1, 0x78]));
  });
  const rawTook = performance.now() - t0;
  assert.equal(raw.head[":status"], 200);
  assert.equal(raw.head["content-type"], "application/grpc");
  assert.equal(raw.head["grpc-status"], String(status.DEADLINE_EXCEEDED));
  assert.equal(raw.body, 0);
  assert.ok(rawTook < BOUND_MS, `grpc-timeout 300m answered after ${Math.round(rawTook)} ms`);
  assert.ok(await eventuallyTrue(() => h.rec.ends.some((e) => e.errorCode === "deadline_exceeded")));
  assert.equal(h.rec.upstreamErrors.length, 0, JSON.stringify(h.rec.upstreamErrors));
});

test("proxy errors are gRPC status: breaker open -> UNAVAILABLE, no route key -> INVALID_ARGUMENT, member gone -> UNAVAILABLE", async (t) => {
  const { servers, h, client } = await pool(t);
  h.setFlags({ grpc: Object.fromEntries(servers.map((s) => [s.id, { breakerOpen: true }])) });
  const open = await unary(client, "Unary", "x", md("any"));
  assert.equal(open.code, status.UNAVAILABLE, open.details);
  assert.match(open.details, /no_available_member/);

  const noKey = await unary(client, "Unary", "x", new Metadata());
  assert.equal(noKey.code, status.INVALID_ARGUMENT, noKey.details);
  assert.match(noKey.details, /missing_key/);

  // Every member down (connections refused): UNAVAILABLE, not a transport error.
  h.setFlags({});
  await Promise.all(servers.map((s) => s.close()));
  const gone = await unary(client, "Unary", "x", md("any"));
  assert.equal(gone.code, status.UNAVAILABLE, gone.details);
  assert.match(gone.details, /shardgate upstream_connect_failed/);
});
