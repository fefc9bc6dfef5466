// Raft transport over real loopback sockets: delivery, batching, and rejection (counted, the
// connection dropped, the process alive) of forged, replayed, malformed, oversized and garbage
// frames and of a wrong secret; a stalled peer does not block others; reconnect after restart.
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, describe, it } from "node:test";
import {
  clientProof,
  frames,
  newNonce,
  parseAddress,
  secretKey,
  serverProof,
  sessionKey,
  signData,
  TcpTransport,
  type TcpTransportOptions,
} from "../../config/raft/transport/index.js";
import { randomBytes, SEED, seededRandom } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "correct horse battery staple";
const rand = seededRandom(SEED);
const seedMsg = `seed=${SEED}`;
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

type Got = { from: string; payload: Buffer }[];

async function node(
  id: string,
  extra: Partial<TcpTransportOptions> = {},
): Promise<{ t: TcpTransport; got: Got; addr: string }> {
  const got: Got = [];
  const t = new TcpTransport({
    id,
    secret: SECRET,
    rand,
    onMessage: (from, payload) => got.push({ from, payload: Buffer.from(payload) }),
    ...extra,
  });
  const addr = await t.start();
  cleanups.push(() => t.stop());
  return { t, got, addr };
}

/** A hand-rolled client that speaks the protocol, so tests can send exactly the bytes they want. */
async function rawClient(addr: string, from: string, to: string, secret = SECRET) {
  const { host, port } = parseAddress(addr);
  const sock = net.connect({ host, port });
  cleanups.push(() => sock.destroy());
  const closed = new Promise<void>((r) => sock.on("close", () => r()));
  sock.on("error", () => {});
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const key = secretKey(secret);
  const cNonce = newNonce();
  const written: Buffer[] = [];
  const write = (b: Buffer) => {
    written.push(b);
    sock.write(b);
  };
  write(frames.encodeHello(from, to, cNonce));
  const challenge = await new Promise<Buffer>((resolve, reject) => {
    sock.once("data", resolve);
    sock.once("close", () => reject(new Error("closed before challenge")));
  });
  const sNonce = challenge.subarray(5, 5 + frames.NONCE_BYTES);
  write(frames.encodeAuth(clientProof(key, from, to, sNonce, cNonce)));
  const session = sessionKey(key, from, to, cNonce, sNonce);
  const data = (seq: number, payloads: Uint8Array[], forge = false) => {
    const f = frames.encodeDataUnsigned(seq, payloads, 0, payloads.length);
    const mac = signData(session, frames.dataMacRange(f));
    if (forge) mac[0] ^= 1;
    mac.copy(f, f.length - frames.MAC_BYTES);
    return f;
  };
  return {
    sock,
    closed,
    write,
    data,
    written,
    serverProofOk: serverProof(key, to, from, cNonce, sNonce).equals(
      challenge.subarray(5 + frames.NONCE_BYTES),
    ),
  };
}

describe("tcp transport", () => {
  it("delivers payloads in order and batches a burst into few frames", async () => {
    const b = await node("b");
    const a = await node("a", { peers: { b: b.addr } });
    const sent: Buffer[] = [];
    for (let k = 0; k < 300; k++) {
      const p = Buffer.from(randomBytes(rand, 1 + Math.floor(rand() * 200)));
      sent.push(p);
      assert.equal(a.t.send("b", p), true);
    }
    await waitFor(() => b.got.length === 300, "300 payloads");
    assert.deepEqual(
      b.got.map((g) => g.payload),
      sent,
      seedMsg,
    );
    assert.ok(b.got.every((g) => g.from === "a"));
    const s = a.t.stats();
    assert.equal(s.payloadsSent, 300);
    assert.ok(s.framesSent < 30, `batched into ${s.framesSent} frames`);
    assert.equal(s.peers.b.connected, true);
    assert.equal(a.t.send("nobody", Buffer.from("x")), false);
    assert.equal(a.t.stats().dropped.no_address, 1);
  });

  it("rejects a forged frame, a replayed frame and a replayed session, and keeps serving", async () => {
    const b = await node("b");
    const a = await node("a", { peers: { b: b.addr } });
    const c1 = await rawClient(b.addr, "mallory", "b");
    assert.ok(c1.serverProofOk, "server proves it knows the secret");
    c1.write(c1.data(1, [Buffer.from("fine")]));
    c1.write(c1.data(2, [Buffer.from("forged")], true));
    await c1.closed;
    assert.equal(b.t.stats().rejected.bad_mac, 1);
    assert.deepEqual(
      b.got.map((g) => g.payload.toString()),
      ["fine"],
    );

    const c2 = await rawClient(b.addr, "mallory", "b");
    const f = c2.data(1, [Buffer.from("once")]);
    c2.write(f);
    c2.write(f);
    await c2.closed;
    assert.equal(b.t.stats().rejected.replay, 1);
    assert.equal(b.got.filter((g) => g.payload.toString() === "once").length, 1);

    // Replay a whole recorded session (hello, auth, data) on a fresh connection: the server's
    // new nonce makes the recorded auth proof worthless.
    const { host, port } = parseAddress(b.addr);
    const replay = net.connect({ host, port });
    cleanups.push(() => replay.destroy());
    replay.on("error", () => {});
    replay.resume(); // consume the challenge so the server's close is seen
    const replayClosed = new Promise<void>((r) => replay.on("close", () => r()));
    replay.write(Buffer.concat(c2.written));
    await replayClosed;
    assert.equal(b.t.stats().rejected.bad_mac, 2);
    assert.equal(b.got.filter((g) => g.payload.toString() === "once").length, 1);

    a.t.send("b", Buffer.from("still alive"));
    await waitFor(
      () => b.got.some((g) => g.payload.toString() === "still alive"),
      "delivery after rejections",
    );
  });

  it("rejects malformed lengths, oversized frames, garbage, a wrong receiver and a wrong secret", async () => {
    const b = await node("b", { maxFrameBytes: 4096, handshakeTimeoutMs: 2000 });
    const { host, port } = parseAddress(b.addr);
    const sendRaw = async (bytes: Buffer) => {
      const s = net.connect({ host, port });
      cleanups.push(() => s.destroy());
      s.on("error", () => {});
      s.resume();
      const closed = new Promise<void>((r) => s.on("close", () => r()));
      s.write(bytes);
      await closed;
    };
    await sendRaw(Buffer.from([0, 0, 0, 0, 1, 2, 3]));
    assert.equal(b.t.stats().rejected.malformed, 1, "zero length");
    await sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal(b.t.stats().rejected.oversized, 1, "huge length");
    await sendRaw(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert.equal(b.t.stats().rejected.oversized, 2, "http garbage reads as a huge length");
    // Below maxFrameBytes, but an unauthenticated peer may only send handshake-sized frames.
    await sendRaw(Buffer.from([0, 0, 0x0b, 0xb8, frames.FRAME_HELLO]));
    assert.equal(b.t.stats().rejected.oversized, 3, "a 3000-byte frame before the handshake");
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 40, 9]), Buffer.from(randomBytes(rand, 39))]);
    await sendRaw(garbage);
    assert.equal(b.t.stats().rejected.malformed, 2, `typed garbage ${seedMsg}`);
    const badHello = Buffer.concat([
      Buffer.from([0, 0, 0, 6, frames.FRAME_HELLO]),
      Buffer.from([1, 200, 1, 2, 3]),
    ]);
    await sendRaw(badHello);
    assert.equal(b.t.stats().rejected.malformed, 3, "truncated hello");
    await sendRaw(frames.encodeHello("a", "not-b", newNonce()));
    assert.equal(b.t.stats().rejected.wrong_receiver, 1);

    // A raw client with the wrong secret fails the server's proof check and its auth is refused.
    const wrong = await rawClient(b.addr, "a", "b", "not the cluster secret at all");
    assert.equal(wrong.serverProofOk, false);
    await wrong.closed;
    assert.equal(b.t.stats().rejected.bad_mac, 1);
    // A transport with the wrong secret refuses the server and never delivers.
    const c = await node("c", { secret: "another secret entirely!!", peers: { b: b.addr } });
    c.t.send("b", Buffer.from("nope"));
    await waitFor(() => c.t.stats().rejected.bad_server_proof >= 1, "client-side rejection");
    assert.equal(b.got.length, 0);
    // After all that, an honest peer still gets through.
    const a = await node("a", { peers: { b: b.addr } });
    a.t.send("b", Buffer.from("hello"));
    await waitFor(() => b.got.length === 1, "honest delivery");
  });

  it("after the handshake, drops a malformed data frame and survives a throwing message handler", async () => {
    let throwNext = true;
    const handlerErrors: unknown[] = [];
    const b = await node("b", {
      onMessage: (_from, payload) => {
        if (throwNext) {
          throwNext = false;
          throw new Error(`handler refused ${Buffer.from(payload).toString()}`);
        }
      },
    });
    b.t.on("handlerError", (err) => handlerErrors.push(err));

    // An authenticated peer declares more payloads than the frame holds.
    const c1 = await rawClient(b.addr, "mallory", "b");
    const f = c1.data(1, []);
    f.writeUInt32BE(5, frames.LENGTH_BYTES + 1 + 6);
    c1.write(f);
    await c1.closed;
    assert.equal(b.t.stats().rejected.malformed, 1);

    // A handler that throws is reported, not fatal, and the session keeps delivering.
    const c2 = await rawClient(b.addr, "mallory", "b");
    c2.write(c2.data(1, [Buffer.from("boom")]));
    c2.write(c2.data(2, [Buffer.from("next")]));
    await waitFor(() => b.t.stats().payloadsReceived === 2, "both payloads received");
    assert.equal(handlerErrors.length, 1);
    assert.match(String(handlerErrors[0]), /handler refused boom/);
    assert.equal(c2.sock.destroyed, false, "the session survives a throwing handler");
  });

  it("a stalled peer does not block sends to another peer; its queue stays bounded", async () => {
    // The stalled peer completes the handshake and then never reads again.
    const key = secretKey(SECRET);
    const stalledSockets = new Set<net.Socket>();
    const stalled = net.createServer((sock) => {
      stalledSockets.add(sock);
      sock.on("error", () => {});
      sock.once("data", (hello: Buffer) => {
        const h = frames.decodeHello(hello.subarray(5));
        const sNonce = newNonce();
        sock.write(frames.encodeChallenge(sNonce, serverProof(key, "s", h.from, h.nonce, sNonce)));
        sock.pause();
      });
    });
    await new Promise<void>((r) => stalled.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => {
      // Paused sockets never notice the peer closing: destroy them explicitly.
      for (const sock of stalledSockets) sock.destroy();
      return new Promise<void>((r) => stalled.close(() => r()));
    });
    const sAddr = `127.0.0.1:${(stalled.address() as net.AddressInfo).port}`;
    const b = await node("b");
    const a = await node("a", {
      peers: { s: sAddr, b: b.addr },
      maxQueuePayloads: 64,
      highWaterBytes: 256 * 1024,
    });
    await new Promise((r) => setTimeout(r, 50));
    const big = Buffer.alloc(64 * 1024, 7);
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 20; k++) a.t.send("s", big);
      a.t.send("b", Buffer.from(`m${round}`));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => b.got.length === 40, "all 40 messages to the healthy peer");
    const s = a.t.stats();
    assert.ok(s.peers.s.queued <= 64, `queue bounded, has ${s.peers.s.queued}`);
    assert.ok(s.dropped.queue_full > 0, "oldest payloads dropped for the stalled peer");
  });

  it("reconnects after the peer restarts, and cut/heal drop and restore traffic", async () => {
    const b = await node("b");
    const port = parseAddress(b.addr).port;
    const a = await node("a", { peers: { b: b.addr }, backoffMinMs: 10, backoffMaxMs: 100 });
    a.t.send("b", Buffer.from("before"));
    await waitFor(() => b.got.length === 1, "first delivery");
    await b.t.stop();
    await new Promise((r) => setTimeout(r, 50));
    const b2 = await node("b", { port });
    await waitFor(
      () => {
        a.t.send("b", Buffer.from("after"));
        return b2.got.length > 0;
      },
      "delivery after restart",
      5000,
      50,
    );
    assert.equal(b2.got[0].payload.toString(), "after");

    a.t.cut("b");
    assert.equal(a.t.send("b", Buffer.from("dropped")), false);
    a.t.heal("b");
    b2.t.cut("a");
    const n = b2.got.length;
    a.t.send("b", Buffer.from("dropped at receiver"));
    await waitFor(() => b2.t.stats().dropped.cut >= 1, "receiver-side cut");
    assert.equal(b2.got.length, n);
    b2.t.heal("a");
    a.t.send("b", Buffer.from("healed"));
    await waitFor(() => b2.got.some((g) => g.payload.toString() === "healed"), "delivery after heal");
    assert.ok(!b2.got.some((g) => g.payload.toString().startsWith("dropped")));
  });
});
