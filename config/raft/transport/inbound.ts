// Server side of one inbound connection: runs the handshake (HELLO -> CHALLENGE -> AUTH),
// then verifies every DATA frame (MAC with the session key, then the exact next sequence
// number) before handing its payloads up. Anything else is rejected, counted, and the
// connection is dropped; no input can throw out of here. A version-2 hello names the sender's
// cluster id: when this node holds one and the two differ, the hello is refused before any Raft
// message is read (REFUSE frame with the reason, then close), as etcd refuses "cluster ID
// mismatch". A version-1 hello names none (the previous version, or a node that has not adopted
// one yet, e.g. an empty joiner) and is served as before.
import type { KeyObject } from "node:crypto";
import type * as net from "node:net";
import { clientProof, macEqual, newNonce, serverProof, sessionKey, signData } from "./auth.js";
import { helloClusterRefusal } from "./cluster-check.js";
import {
  decodeData,
  decodeHello,
  encodeChallenge,
  encodeRefuse,
  FRAME_AUTH,
  FRAME_DATA,
  FRAME_HELLO,
  FrameError,
  FrameReader,
  HANDSHAKE_FRAME_BYTES,
  MAC_BYTES,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_CLUSTER,
} from "./frames.js";
import type { RejectReason, TransportCounters } from "./stats.js";

export interface InboundHost {
  readonly self: string;
  readonly key: KeyObject;
  readonly counters: TransportCounters;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  /** This node's cluster id, "" while it holds none. */
  clusterId(): string;
  /** `claimed`: the peer named itself but has not proved it (the handshake was not complete). */
  onReject(reason: RejectReason, peer: string, detail: string, claimed?: boolean): void;
  /** Called once the peer proved its id; returns false to refuse the connection. */
  onAuthenticated(peer: string, sock: net.Socket): void;
  deliver(peer: string, payloads: Buffer[]): void;
}

class Rejection extends Error {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

export function serveInbound(host: InboundHost, sock: net.Socket): void {
  host.counters.inboundAccepted++;
  sock.setNoDelay(true);
  // Until the peer proved it knows the secret it may not make us buffer a large frame.
  const reader = new FrameReader(Math.min(HANDSHAKE_FRAME_BYTES, host.maxFrameBytes));
  let phase: "hello" | "auth" | "open" | "dead" = "hello";
  let peer = "";
  let cNonce: Buffer | null = null;
  let sNonce: Buffer | null = null;
  let session: KeyObject | null = null;
  /** The hello's cluster id (version 2), bound into the proofs and the session key. */
  let cluster: string | undefined;
  let expectSeq = 1;
  let timer: NodeJS.Timeout | null = setTimeout(() => {
    timer = null;
    reject("handshake_timeout", "no authenticated hello in time");
  }, host.handshakeTimeoutMs);

  function reject(reason: RejectReason, detail: string): void {
    if (phase === "dead") return;
    const claimed = phase !== "open";
    phase = "dead";
    if (timer) clearTimeout(timer);
    timer = null;
    host.onReject(reason, peer || sock.remoteAddress || "?", detail, claimed);
    sock.destroy();
  }

  /** Tells the client why (it would otherwise take a silent close for a network fault), then closes. */
  function refuse(why: string): void {
    if (phase === "dead") return;
    phase = "dead";
    if (timer) clearTimeout(timer);
    timer = null;
    host.onReject("cluster_mismatch", peer, why, true);
    sock.end(encodeRefuse(why));
    setTimeout(() => sock.destroy(), 1000).unref();
  }

  function onFrame(type: number, body: Buffer): boolean {
    if (phase === "open") {
      if (type !== FRAME_DATA) throw new Rejection("malformed", `unexpected frame type ${type}`);
      const d = decodeData(body);
      if (!macEqual(d.mac, signData(session as KeyObject, d.signed)))
        throw new Rejection("bad_mac", "data frame MAC mismatch");
      if (d.seq !== expectSeq)
        throw new Rejection("replay", `data frame seq ${d.seq}, expected ${expectSeq}`);
      expectSeq++;
      const c = host.counters;
      c.framesReceived++;
      c.payloadsReceived += d.payloads.length;
      c.bytesReceived += body.length + 5;
      host.deliver(peer, d.payloads);
      return true;
    }
    if (phase === "hello") {
      if (type !== FRAME_HELLO) throw new Rejection("malformed", `expected hello, got frame type ${type}`);
      const h = decodeHello(body);
      if (h.version !== PROTOCOL_VERSION && h.version !== PROTOCOL_VERSION_CLUSTER)
        throw new Rejection("bad_version", `protocol version ${h.version}`);
      if (h.to !== host.self)
        throw new Rejection("wrong_receiver", `hello for ${h.to}, this is ${host.self}`);
      peer = h.from;
      const why = helloClusterRefusal(peer, host.self, h.cluster, host.clusterId());
      if (why !== null) {
        refuse(why);
        return false;
      }
      cluster = h.cluster;
      cNonce = h.nonce;
      sNonce = newNonce();
      sock.write(encodeChallenge(sNonce, serverProof(host.key, host.self, peer, cNonce, sNonce, cluster)));
      phase = "auth";
      return true;
    }
    if (phase === "auth") {
      if (type !== FRAME_AUTH || body.length !== MAC_BYTES) throw new Rejection("malformed", "expected auth");
      const want = clientProof(host.key, peer, host.self, sNonce as Buffer, cNonce as Buffer, cluster);
      if (!macEqual(body, want))
        throw new Rejection("bad_mac", "client proof mismatch (wrong secret or replayed handshake)");
      session = sessionKey(host.key, peer, host.self, cNonce as Buffer, sNonce as Buffer, cluster);
      phase = "open";
      reader.setLimit(host.maxFrameBytes);
      if (timer) clearTimeout(timer);
      timer = null;
      host.onAuthenticated(peer, sock);
      return true;
    }
    return false;
  }

  sock.on("data", (chunk: Buffer) => {
    if (phase === "dead") return;
    try {
      reader.push(chunk, onFrame);
    } catch (err) {
      if (err instanceof Rejection) reject(err.reason, err.message);
      else if (err instanceof FrameError) reject(err.reason, err.message);
      else reject("malformed", String(err));
    }
  });
  sock.on("error", () => {});
  sock.on("close", () => {
    phase = "dead";
    if (timer) clearTimeout(timer);
    timer = null;
  });
}
