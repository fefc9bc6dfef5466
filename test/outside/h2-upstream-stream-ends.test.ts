// Misbehaving HTTP/2 (gRPC) upstreams, tried from the outside: a real shardgate process in
// front of a node:http2 upstream on an h2c pool. Found: an upstream stream that ended before
// any response head (RST_STREAM NO_ERROR; or a head larger than the session's header list
// limit, which Node drops the same way) was held until the pool's response timeout (30 s by
// default) and then answered as upstream_timeout, DEADLINE_EXCEEDED, counted against the
// member as a timeout. Now (proxy/forward/h2-attempt.ts) it is upstream_reset at once: gRPC 14
// UNAVAILABLE, HTTP 502. Held, kept as guards: a GOAWAY mid-call ends the call with
// UNAVAILABLE trailers; a client that cancels mid-stream cancels the upstream stream (the
// upstream's open streams go back to none); an upstream that resets every stream is 14.

import assert from "node:assert/strict";
import { connect, constants, createServer, type Http2Server, type IncomingHttpHeaders } from "node:http2";
import { after, before, test } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const RESPONSE_MS = 20_000;
const GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 2, 8, 1]);

let upstream: Http2Server;
let openStreams = 0;
let sg: RunningShardgate;

before(async () => {
  upstream = createServer();
  upstream.on("stream", (st, h) => {
    openStreams++;
    st.on("error", () => {});
    st.on("close", () => {
      openStreams--;
    });
    const grpc = { ":status": 200, "content-type": "application/grpc" };
    switch (h[":path"]) {
      case "/rst-no-error":
        st.close(constants.NGHTTP2_NO_ERROR);
        return;
      case "/huge-head":
        st.respond({ ...grpc, "x-big": "a".repeat(200_000) });
        st.end();
        return;
      case "/reset":
        st.close(constants.NGHTTP2_INTERNAL_ERROR);
        return;
      case "/goaway":
        st.respond(grpc);
        st.write(GRPC_MESSAGE);
        setTimeout(() => {
          st.session?.goaway(constants.NGHTTP2_NO_ERROR);
          setTimeout(() => st.session?.destroy(), 100);
        }, 100);
        return;
      case "/stream": {
        st.respond(grpc);
        const t = setInterval(() => {
          if (!st.destroyed) st.write(GRPC_MESSAGE);
        }, 50);
        st.on("close", () => clearInterval(t));
        return;
      }
    }
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const port = (upstream.address() as { port: number }).port;
  const yaml = poolConfig({
    members: [{ id: "g1", port }],
    poolExtra: `    protocol: h2c\n    timeouts: { response: ${RESPONSE_MS}ms }\n    breaker: { enabled: false }\n`,
  });
  sg = await startShardgate(yaml);
});

after(async () => {
  await stopAll();
  await new Promise((r) => upstream.close(r));
});

interface Call {
  head: IncomingHttpHeaders | null;
  trailers: IncomingHttpHeaders | null;
  ms: number;
}

/** A gRPC-shaped POST over h2c through shardgate; `cancelAfter` > 0 resets it after that many bytes. */
function call(path: string, cancelAfter = 0, grpc = true): Promise<Call> {
  return new Promise((resolve, reject) => {
    const session = connect(sg.httpUrl);
    session.on("error", reject);
    const t0 = performance.now();
    const headers = grpc
      ? { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" }
      : { ":method": "GET", ":path": path };
    const r = session.request(headers);
    let head: IncomingHttpHeaders | null = null;
    let trailers: IncomingHttpHeaders | null = null;
    let bytes = 0;
    r.on("response", (h) => {
      head = h;
    });
    r.on("trailers", (t) => {
      trailers = t;
    });
    r.on("data", (d: Buffer) => {
      bytes += d.length;
      if (cancelAfter > 0 && bytes >= cancelAfter) r.close(constants.NGHTTP2_CANCEL);
    });
    r.on("error", () => {});
    r.on("close", () => {
      session.close();
      resolve({ head, trailers, ms: performance.now() - t0 });
    });
    r.end(grpc ? Buffer.from([0, 0, 0, 0, 0]) : undefined);
  });
}

test("an upstream stream that ends before its response head is upstream_reset at once, not a timeout", async () => {
  for (const path of ["/rst-no-error", "/huge-head", "/reset"]) {
    const c = await call(path);
    assert.ok(
      c.ms < RESPONSE_MS / 2,
      `${path}: answered after ${Math.round(c.ms)} ms (response timeout ${RESPONSE_MS})`,
    );
    assert.equal(c.head?.["grpc-status"], "14", `${path}: ${JSON.stringify(c.head)}`);
    assert.equal(c.head?.["x-shardgate-error"], "upstream_reset", path);
  }
  const plain = await call("/rst-no-error", 0, false);
  assert.equal(plain.head?.[":status"], 502);
  assert.ok(plain.ms < RESPONSE_MS / 2, `plain h2: ${Math.round(plain.ms)} ms`);
});

test("GOAWAY mid-call ends it with UNAVAILABLE trailers; a client's cancel cancels the upstream stream", async () => {
  const g = await call("/goaway");
  assert.equal(g.head?.[":status"], 200);
  assert.equal(g.trailers?.["grpc-status"], "14", JSON.stringify(g.trailers));
  const c = await call("/stream", 3 * GRPC_MESSAGE.length);
  assert.equal(c.head?.[":status"], 200);
  await eventually("the upstream's streams all closed after the cancel", () =>
    openStreams === 0 ? true : undefined,
  );
});
