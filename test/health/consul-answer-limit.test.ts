// A Consul answer far larger than any real pool's (50 MB, valid JSON: ~290,000 instances) is
// refused as it streams in, past MAX_ANSWER_BYTES: the watcher reports a clear error, keeps
// the last member view, stops reading (the server sees its connection closed long before the
// end) and applies the next normal answer. Before, the whole body was held and applied.
// A real HTTP server on 127.0.0.1 plays the agent: answer 1 normal, answer 2 the 50 MB one,
// answer 3 normal with one member critical.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { consulAgentSchema, poolConsulSchema } from "../../config/file/schema.js";
import { MAX_ANSWER_BYTES } from "../../health/consul-health-query.js";
import { ConsulWatcher } from "../../health/consul-watcher.js";
import { eventually } from "../support/wait.js";

const entryText = (id: string, status: string) =>
  JSON.stringify({
    Node: { Node: "n1", Address: "127.0.0.1" },
    Service: { ID: id, Service: "s", Port: 80, Tags: [], Meta: {} },
    Checks: [{ CheckID: `c-${id}`, Status: status }],
  });

const HUGE_BYTES = 50 * 1024 * 1024;

test("a 50 MB answer is refused as it arrives; the last view stays and the next answer applies", async (t) => {
  assert.ok(MAX_ANSWER_BYTES < HUGE_BYTES);
  const ids = ["a1", "a2", "a3"];
  const small = (critical: string) =>
    Buffer.from(`[${ids.map((id) => entryText(id, id === critical ? "critical" : "passing")).join(",")}]`);
  let n = 0;
  let hugeWritten = 0;
  let hugeClosedEarly = false;
  const server = http.createServer((_req, res) => {
    n++;
    if (n !== 2) {
      const text = small(n >= 3 ? "a2" : "");
      res.writeHead(200, { "Content-Type": "application/json", "X-Consul-Index": String(10 + n) });
      res.end(text);
      return;
    }
    // 50 MB of valid entries in 64 KB writes, paced by the socket (write() returning false).
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Content-Length": String(HUGE_BYTES),
      "X-Consul-Index": "12",
    });
    const filler = `,${entryText("x", "passing")}`;
    const block = Buffer.from(filler.repeat(Math.floor(65_536 / filler.length)));
    res.on("close", () => {
      if (hugeWritten < HUGE_BYTES) hugeClosedEarly = true;
    });
    res.write("[");
    hugeWritten = 1;
    const pump = (): void => {
      while (hugeWritten + block.length + 1 < HUGE_BYTES) {
        hugeWritten += block.length;
        if (!res.write(block)) {
          res.once("drain", pump);
          return;
        }
      }
      const pad = HUGE_BYTES - hugeWritten - 1;
      res.end(`${" ".repeat(pad)}]`);
      hugeWritten = HUGE_BYTES;
    };
    // The first filler starts with a comma: write one real entry first.
    const first = Buffer.from(entryText("x0", "passing"));
    hugeWritten += first.length;
    res.write(first);
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const w = new ConsulWatcher({
    discovery: poolConsulSchema.parse({ service: "s" }),
    agent: consulAgentSchema.parse({
      address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      rateLimit: 50,
      wait: 5000,
    }),
    seed: 1,
    rateBurst: 10,
    backoffBaseMs: 20,
    backoffMaxMs: 50,
  });
  t.after(() => w.stop());
  w.start();
  await w.whenSynced();
  assert.deepEqual(
    w.members().map((m) => m.id),
    ids,
  );
  const errors: string[] = [];
  await eventually(
    "the huge answer to be an error",
    () => {
      const e = w.status().lastError;
      if (e !== undefined) errors.push(e);
      return e;
    },
    60_000,
  );
  assert.match(errors[0] as string, /larger than 32 MB: refused/);
  await eventually(
    "the third answer to be applied",
    () => (w.members().find((m) => m.id === "a2")?.healthy === false ? true : undefined),
    60_000,
  );
  assert.deepEqual(
    w.members().map((m) => m.id),
    ids,
    "the huge answer's members never became the view",
  );
  await eventually(
    "the server to see its huge answer cut",
    () => (hugeClosedEarly ? true : undefined),
    10_000,
  );
  assert.ok(hugeWritten < HUGE_BYTES, `the whole answer was read (${hugeWritten} bytes)`);
});
