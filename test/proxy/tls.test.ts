// The HTTPS listener: TLS terminates at shardgate, upstreams see X-Forwarded-Proto: https.
// The fixture is a throwaway self-signed certificate for 127.0.0.1 used only by this test.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { SILENT_LOG } from "../../config/log-sink.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { planeOverUpstreams } from "./harness.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../../../test/proxy/fixtures/${name}`, import.meta.url));
function load(name: string): Buffer {
  try {
    return readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
  } catch {
    return fixture(name); // compiled: dist/test/proxy -> test/proxy/fixtures
  }
}

test("TLS listener forwards with X-Forwarded-Proto https", async (t) => {
  const { config, plane } = await planeOverUpstreams(t, 2);
  const cert = load("test-cert.pem");
  const server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: { timeouts: config.listen.timeouts, maxHeaderSize: config.listen.maxHeaderSize },
    tls: { cert, key: load("test-key.pem") },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
    plane.close();
  });
  const port = (server.address() as AddressInfo).port;
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/s", ca: cert, headers: { "x-user-id": "tls" } },
      (res) => {
        let text = "";
        res.on("data", (c) => {
          text += c;
        });
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
    req.end();
  });
  const echoed = JSON.parse(body);
  assert.equal(echoed.headers["x-forwarded-proto"], "https");
  assert.equal(echoed.path, "/s");
});
