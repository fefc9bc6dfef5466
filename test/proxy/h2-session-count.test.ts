// The count of open HTTP/2 sessions the overload guard multiplies by its estimate
// (proxy/server/connection-memory.ts, h2SessionsOf): it must fall back to zero however a session
// ends, or every session that ended one way would stay counted and the guard would shed for good.
// Each way a session ends, from a real h2c client (or a raw socket) on loopback against the real
// listener: the client's GOAWAY, the client's destroy, a reset socket mid-stream, a protocol
// error, and the listener's own GOAWAY (closeIdleConnections). Nothing is random.

import type { Server } from "node:http";
import { connect as h2connect } from "node:http2";
import { type AddressInfo, connect as netConnect, type Socket } from "node:net";
import { test } from "node:test";
import { SILENT_LOG } from "../../config/log-sink.js";
import { connectionCapOf, createProxyServer, h2SessionsOf } from "../../proxy/server/proxy-server.js";
import { h2Session } from "../support/h2-client.js";
import { frame } from "../support/h2-frames.js";
import { eventually } from "../support/wait.js";
import { planeOverUpstreams } from "./harness.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Sessions opened per way of ending them: enough for a leak of one per session to show. */
const PER_WAY = 5;

test("the listener's HTTP/2 session count falls back to zero whichever way the sessions end", async (t) => {
  const { plane, config } = await planeOverUpstreams(t, 1);
  const server: Server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: {
      timeouts: config.listen.timeouts,
      maxHeaderSize: config.listen.maxHeaderSize,
      maxConnections: 1000,
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const port = (server.address() as AddressInfo).port;
  const counts = () => `${h2SessionsOf(server)} sessions, ${connectionCapOf(server)?.open()} sockets open`;
  // The counts at the last look are in the timeout's message.
  const until = (what: string, cond: () => boolean) =>
    eventually(what, () => {
      if (cond()) return true;
      throw new Error(counts());
    });
  const drained = (way: string) =>
    until(
      `${way}: counts back to zero`,
      () => h2SessionsOf(server) === 0 && connectionCapOf(server)?.open() === 0,
    );
  const open = async (n: number) => {
    const sessions = await Promise.all(Array.from({ length: n }, () => h2Session(t, url)));
    // Each session's socket counts too (the estimate adds a plain socket's bytes to the session's).
    await until(
      `${n} sessions and their sockets counted`,
      () => h2SessionsOf(server) === n && connectionCapOf(server)?.open() === n,
    );
    return sessions;
  };

  for (const s of await open(PER_WAY)) s.close();
  await drained("the client's GOAWAY");

  for (const s of await open(PER_WAY)) s.destroy();
  await drained("the client's destroy");

  // A stream under way, then the socket reset (RST) under it.
  for (const s of await open(PER_WAY)) {
    const req = s.request({ ":path": "/a", ":method": "POST", "x-user-id": "alice" });
    req.on("error", () => undefined);
    req.write("partial");
    (s.socket as Socket).resetAndDestroy();
  }
  await drained("a socket reset mid-stream");

  // A DATA frame on stream 0 is a connection error (PROTOCOL_ERROR): nghttp2 ends the session.
  const raws: Socket[] = [];
  for (let i = 0; i < PER_WAY; i++) {
    const raw = netConnect(port, "127.0.0.1");
    raws.push(raw);
    raw.on("error", () => undefined);
    raw.write(Buffer.concat([PREFACE, frame(4, 0, 0)]));
  }
  t.after(() => {
    for (const r of raws) r.destroy();
  });
  await until("raw sessions counted", () => h2SessionsOf(server) === PER_WAY);
  for (const raw of raws) raw.write(frame(0, 0, 0, Buffer.from("x")));
  await until("a protocol error: sessions gone", () => h2SessionsOf(server) === 0);
  for (const raw of raws) raw.destroy();
  await drained("a protocol error");

  // The listener's own GOAWAY to idle sessions, the clients staying connected until it comes.
  await open(PER_WAY);
  server.closeIdleConnections();
  await drained("the listener's GOAWAY");
  // A fresh session is still counted from zero.
  const again = h2connect(url);
  t.after(() => again.destroy());
  await new Promise<void>((resolve) => again.once("remoteSettings", () => resolve()));
  await until("one fresh session counted", () => h2SessionsOf(server) === 1);
  again.destroy();
  await drained("the fresh session's destroy");
});
