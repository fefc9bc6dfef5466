// bytesWrittenOf (node-internals.ts) must give what Node's socket.bytesWritten getter gives, on
// a real loopback connection: idle, with writes queued behind a peer that does not read, after
// they drained, and once destroyed. The data plane reads it at every response head.

import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { bytesWrittenOf } from "../../proxy/server/node-internals.js";

test("bytesWrittenOf equals socket.bytesWritten: idle, queued, drained, destroyed", async () => {
  let peer: Socket | null = null;
  const server = createServer((s) => {
    peer = s;
    s.pause();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const client = connect(port, "127.0.0.1");
  try {
    await once(client, "connect");
    const seen: string[] = [];
    const check = (when: string): void => {
      const want = client.bytesWritten;
      assert.equal(bytesWrittenOf(client), want, when);
      seen.push(`${when}:${client.writableLength}`);
    };
    check("idle");
    client.write("head");
    check("one small write");
    // A peer that does not read: the kernel buffers fill and Node queues the rest.
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const deadline = Date.now() + 20_000;
    while (client.writableLength === 0 && Date.now() < deadline) {
      client.write(chunk);
      check("writing");
      if (client.writableLength === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(client.writableLength > 0, "writes never queued");
    client.write("a string chunk");
    check("queued");
    (peer as Socket | null)?.resume();
    if (client.writableLength > 0) await once(client, "drain");
    check("drained");
    assert.equal(client.writableLength, 0);
    client.destroy();
    check("destroyed");
    assert.ok(
      seen.some((s) => s.startsWith("queued:") && !s.endsWith(":0")),
      seen.join(" "),
    );
  } finally {
    client.destroy();
    (peer as Socket | null)?.destroy();
    server.close();
  }
});
