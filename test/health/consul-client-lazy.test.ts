// The consul module is imported by a client's first query (health/consul-health-query.ts), so a
// stop that lands while it is imported must cancel that query: the watcher's stop() waits for its
// loop, and a blocking read sent after the abort would hold it for the whole wait. A real HTTP
// server on 127.0.0.1 counts what reaches it. And a load that failed is tried again.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { ConsulAnswerCache } from "../../health/consul-answer-cache.js";
import { ConsulHealthClient, type HealthQuery } from "../../health/consul-health-query.js";
import { scaled } from "../support/wait.js";

const QUERY: HealthQuery = {
  service: "web",
  index: "0",
  waitMs: 1000,
  datacenter: undefined,
  tags: [],
  filter: undefined,
};

test("an abort during the first query's import cancels it before anything is sent; the next query is sent", async (t) => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.writeHead(200, { "content-type": "application/json", "x-consul-index": "7" }).end("[]");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const stopped = new ConsulHealthClient(address, "", 5_000);
  const first = stopped.query(QUERY, new ConsulAnswerCache());
  stopped.abort();
  await assert.rejects(first, /aborted before it was sent/);
  await stopped.close();
  assert.equal(requests, 0);

  const client = new ConsulHealthClient(address, "", 5_000);
  t.after(() => client.close());
  const answer = await client.query(QUERY, new ConsulAnswerCache());
  assert.equal(answer.index, "7");
  assert.equal(requests, 1);
});

// The import ends a few microtasks before the query sends: a stop landing in that gap (one tick
// after the module resolved, as a second pool's first query does once the first pool loaded it)
// was let through, and the blocking read then held stop() for the whole request timeout.
test("an abort at any microtask of the first query's start cancels it; no blocking read outlives it", async (t) => {
  const server = createServer(() => {
    // Never answers: a blocking read that only the abort ends.
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Ticks 0 to 7 cover the import's resolution, the client's construction and the send.
  for (let ticks = 0; ticks < 8; ticks++) {
    const client = new ConsulHealthClient(address, "", 60_000);
    const started = performance.now();
    const query = client.query(QUERY, new ConsulAnswerCache());
    for (let i = 0; i < ticks; i++) await Promise.resolve();
    client.abort();
    const outcome = await Promise.race([
      query.then(
        () => "answered",
        (err: Error) => err.message,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve("still running"), scaled(2_000)).unref()),
    ]);
    await client.close();
    assert.match(
      outcome,
      /aborted/,
      `abort after ${ticks} microtasks: ${outcome} after ${Math.round(performance.now() - started)} ms`,
    );
  }
});

// A reload that adds a Consul pool loads the client at its first query, and a busy process can be
// at its descriptor limit then. That failure was kept for the process's life: the module's promise
// stayed rejected, and Node keeps both a failed import's error and a package.json it could not
// open. A child resolves the client as a running instance's start does, fills its descriptors,
// loads (EMFILE), frees them, and loads again.
test("a consul client load that failed at the descriptor limit is tried again by the next load", async () => {
  const query = new URL("../../health/consul-health-query.js", import.meta.url).href;
  const script = `
    const fs = require("node:fs");
    import(${JSON.stringify(query)}).then(async ({ resolveConsul, loadConsul }) => {
      resolveConsul();
      const held = [];
      try { for (let i = 0; i < 100000; i++) held.push(fs.openSync("/dev/null", "r")); } catch {}
      const first = await loadConsul().then(() => "loaded", (err) => err.message);
      for (const fd of held) fs.closeSync(fd);
      const second = await loadConsul().then((c) => typeof c, (err) => err.message);
      console.log(JSON.stringify({ first, second }));
    });`;
  const { execFileSync } = await import("node:child_process");
  const out = JSON.parse(
    execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: scaled(60_000) }).trim(),
  ) as { first: string; second: string };
  assert.match(out.first, /^the consul client \(package consul\) could not be loaded: EMFILE/);
  assert.equal(out.second, "function", `the load after the descriptors were freed: ${out.second}`);
});
