// The OTLP trace collector misbehaving from outside, with a real shardgate process and real
// traffic: a collector that answers 503 to every export, and one that takes the connection and
// the body and never answers. Requests keep being served (every one answers 200), the spans
// that cannot be exported are counted in shardgate_tracing_spans_total{result} (failed;
// dropped once the export queue is full) and said in a warn line, not one per span. Before,
// the SDK reported all of it only to its diag logger, which shardgate does not install:
// nothing was logged and nothing counted.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  fetchJson,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { CONDITION_DEADLINE_MS, scaled } from "../support/wait.js";

/** A collector stand-in whose answer to a POST is `answer`'s business (or never). */
async function collector(
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; posts: () => number; close(): Promise<void> }> {
  let posts = 0;
  const server: Server = createServer((req, res) => {
    posts++;
    req.resume();
    req.on("end", () => answer(req, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    posts: () => posts,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const closers: Array<() => Promise<unknown>> = [];
let upstreams: Promise<EchoUpstream[]> | undefined;

// Each case's collector and shardgate are its own: they are closed together, not one stop (and
// its bounded wait for the last spans) after another.
after(async () => {
  await Promise.all(closers.map((c) => c()));
  await stopAll();
  await closeAll((await upstreams) ?? []);
});

async function tracedShardgate(
  url: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<RunningShardgate> {
  upstreams ??= startUpstreams(1, "o");
  const ups = await upstreams;
  const yaml = poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false });
  const sg = await startShardgate(`${yaml}tracing:\n  enabled: true\n  otlpEndpoint: "${url}"\n`, {
    args,
    env,
  });
  closers.push(() => sg.stop());
  return sg;
}

async function spans(sg: RunningShardgate, result: string): Promise<number> {
  const text = (await fetchJson(`${sg.adminUrl}/metrics`)).text;
  return metricValue(text, "shardgate_tracing_spans_total", { result }) ?? Number.NaN;
}

/** `n` requests, `concurrency` at a time; every one must answer 200. */
async function traffic(sg: RunningShardgate, n: number, concurrency: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const r = await fetch(`${sg.httpUrl}/`, { headers: { "x-user-id": `u${i}` } });
      await r.arrayBuffer();
      assert.equal(r.status, 200, `request ${i} while the collector misbehaves`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const notExported = (l: { msg?: string }) => l.msg?.startsWith("tracing: spans not exported") === true;

// Each case has its own collector and shardgate, and most of each is waiting (the 503 case on
// the exporter's export timeout), so the cases run side by side.
describe("the OTLP collector stalls", { concurrency: true }, () => {
  it("a collector answering 503: requests are served, failed spans counted and logged once", {
    timeout: 180_000,
  }, async () => {
    const c = await collector((_req, res) => {
      res.writeHead(503, { "content-type": "text/plain" }).end("overloaded");
    });
    closers.push(c.close);
    // The exporter's export timeout (10 s by default) shortened through the SDK's own variable:
    // what is tried is what shardgate does once a batch is given up on, not the SDK's timeout.
    const sg = await tracedShardgate(c.url, [], { OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "3000" });
    assert.equal(await spans(sg, "failed"), 0, "the series exists from the start");
    // The exporter retries a 503 with backoff inside its export timeout; keep traffic going
    // (bounded) until the first batch is given up on. Paced: the first "failed" comes only after
    // that timeout, and an unpaced loop on a fast machine spent its 20,000 requests in 8 s.
    const deadline = Date.now() + scaled(CONDITION_DEADLINE_MS);
    let sent = 0;
    while (!((await spans(sg, "failed")) > 0)) {
      assert.ok(Date.now() < deadline && sent < 20_000, `no span counted failed after ${sent} requests`);
      await traffic(sg, 50, 4);
      sent += 50;
      await delay(100);
    }
    assert.ok(c.posts() > 0, "the collector was asked");
    const line = await sg.proc.waitForLine("the spans-not-exported warning", notExported);
    assert.equal(line.level, "warn");
    assert.ok(Number(line.failed) + Number(line.dropped) > 0, JSON.stringify(line));
    assert.equal(await spans(sg, "exported"), 0);
    assert.ok(sg.proc.lines.filter(notExported).length <= 2, "not one line per batch or span");
  });

  it("a collector that never answers: requests are served, the full queue's drops counted and logged", {
    timeout: 180_000,
  }, async () => {
    const held: ServerResponse[] = [];
    const c = await collector((_req, res) => {
      held.push(res);
    });
    closers.push(c.close);
    const sg = await tracedShardgate(c.url);
    // Two spans a request; the queue holds 2048 while the first export hangs (10 s): keep
    // sending, bounded in count and time, until the processor says it dropped some.
    const deadline = Date.now() + scaled(CONDITION_DEADLINE_MS);
    let sent = 0;
    while (!((await spans(sg, "dropped")) > 0)) {
      assert.ok(Date.now() < deadline && sent < 20_000, `no span counted dropped after ${sent} requests`);
      await traffic(sg, 200, 8);
      sent += 200;
    }
    assert.ok(held.length > 0, "the collector holds an export");
    // The first line counts what was lost by then: drops, or a timed-out export when traffic
    // was too slow to fill the queue first (a loaded machine); the counter has both.
    const line = await sg.proc.waitForLine("the spans-not-exported warning", notExported);
    assert.equal(line.level, "warn");
    assert.ok(Number(line.dropped) + Number(line.failed) > 0, JSON.stringify(line));
    assert.ok(sg.proc.lines.filter(notExported).length <= 2, "not one line per span");
  });

  it("SIGTERM with a collector that never answers: the last spans get 2 s, the stop exits 0", {
    timeout: 180_000,
  }, async () => {
    const held: ServerResponse[] = [];
    const c = await collector((_req, res) => {
      held.push(res);
    });
    closers.push(c.close);
    // Drain 1 s: the stop's bound is that plus its 5 s close allowance. The SDK's own flush
    // waited its 10 s export timeout on the held export and the stop ended in exit 1.
    const sg = await tracedShardgate(c.url, ["--drain-timeout", "1s"]);
    await traffic(sg, 20, 2);
    sg.proc.signal("SIGTERM");
    const exit = await sg.proc.waitExit();
    assert.equal(exit.code, 0, sg.proc.output());
    assert.ok(
      sg.proc.lines.some((l) => l.level === "warn" && /did not take the last spans/.test(String(l.msg))),
      sg.proc.output(),
    );
  });
});
