// One outbound connection to one peer, with its own bounded queue, so a slow or dead peer
// only ever fills its own queue. When the queue is full the OLDEST payload is dropped: Raft
// re-sends what matters, and the newest messages (latest heartbeat, latest append) are the
// useful ones. Reconnects with capped, jittered exponential backoff. A payload that must not
// wait for a later connection (a forwarded proposal: sendIfConnected) goes out on the open
// connection, or is held for the one being dialled and handed back (onUnsent) if that fails.
// A peer named by a hostname (Kubernetes voters behind a headless Service) is resolved through
// the lookup passed in (the process's bounded one: Node's default is getaddrinfo on libuv's
// thread pool, where a hung resolver holds a thread and the process's exit waits for it); the
// lookup has its own bound (lookupTimeoutMs) before the handshake's, and each streak of failed
// dials is reported once per distinct error (onDialFailure), its end once (onDialRecovered).
// A peer the link cannot reach costs next to nothing: when its connection drops the queue is
// dropped with it (what it held is stale by the time the peer is back, and Raft re-sends what
// matters), every failed dial and every lost connection is reported (onUnreachable: the Raft
// leader then probes the peer, one append at a time, instead of pipelining), and until a dial
// succeeds again it holds only the newest few payloads (maxQueuePayloadsDown). A first dial,
// not known to fail, queues as an open link does.
// A payload queued with an onLost callback (the driver's snapshots) is reported when it does
// not go: dropped from the queue (displaced, the link's queue dropped with its connection, cut,
// closed) or written on a connection that failed before the write completed.

import type { KeyObject } from "node:crypto";
import type { LookupFunction } from "node:net";
import * as net from "node:net";
import { clientProof, macEqual, newNonce, serverProof, sessionKey, signData } from "./auth.js";
import {
  dataMacRange,
  encodeAuth,
  encodeDataUnsigned,
  encodeHello,
  FRAME_CHALLENGE,
  FRAME_REFUSE,
  FrameError,
  FrameReader,
  HANDSHAKE_FRAME_BYTES,
  MAC_BYTES,
  NONCE_BYTES,
} from "./frames.js";
import { countDrop, type RejectReason, type TransportCounters } from "./stats.js";

export interface LinkSettings {
  readonly self: string;
  readonly key: KeyObject;
  readonly counters: TransportCounters;
  readonly maxFrameBytes: number;
  readonly maxQueuePayloads: number;
  readonly maxQueueBytes: number;
  /** Payloads held (the newest) while the peer is down: a dead peer costs only these. */
  readonly maxQueuePayloadsDown: number;
  readonly maxBatchBytes: number;
  readonly highWaterBytes: number;
  readonly handshakeTimeoutMs: number;
  /** A peer's hostname must resolve within this; then the handshake's bound starts. */
  readonly lookupTimeoutMs: number;
  /** Resolves peer hostnames (undefined: Node's dns.lookup). */
  readonly lookup: LookupFunction | undefined;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  readonly rand: () => number;
  /** This node's cluster id, "" while it holds none (then hellos are version 1). */
  readonly clusterId: () => string;
  /** `claimed`: an inbound peer's unproved name (counted under UNKNOWN_PEER, stats.ts). */
  readonly onReject: (reason: RejectReason, peer: string, detail: string, claimed?: boolean) => void;
  /**
   * A dial failed (the lookup, the TCP connect): called on the first failure of a streak and
   * again only for a code the streak has not reported yet (at most MAX_REPORTED_CODES of them,
   * so errors that alternate never report each retry); `failures` counts the streak's failed dials.
   */
  readonly onDialFailure: (
    peer: string,
    address: string,
    err: NodeJS.ErrnoException,
    failures: number,
  ) => void;
  /** Every failed dial, each retry included (for counting). */
  readonly onDialError: (peer: string, err: NodeJS.ErrnoException) => void;
  /** A link whose failures were reported is open again after `failures` failed dials. */
  readonly onDialRecovered: (peer: string, address: string, failures: number) => void;
  /** The peer could not be reached: a dial failed, or the open connection was lost. */
  readonly onUnreachable: (peer: string) => void;
}

type State = "idle" | "connecting" | "open" | "backoff" | "closed";

/** Distinct error codes reported per streak of failed dials, at most. */
const MAX_REPORTED_CODES = 8;

/** Payloads held for the connection being dialled (sendIfConnected), at most. */
const MAX_HELD = 1024;

export function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`bad peer address ${JSON.stringify(address)} (want host:port)`);
  }
  return { host, port };
}

export class PeerLink {
  readonly peer: string;
  address: string;
  private readonly s: LinkSettings;
  private state: State = "idle";
  private sock: net.Socket | null = null;
  private session: KeyObject | null = null;
  private seq = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private queue: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** sendIfConnected payloads waiting for the connection being dialled, and what to call if it fails. */
  private held: { payload: Uint8Array; onUnsent: () => void }[] = [];
  /** Queued payloads whose loss must be reported (enqueue's onLost), by identity. */
  private readonly lost = new Map<Uint8Array, () => void>();
  private readonly flushBound: () => void;
  /** Failed dials since the link was last open, and the error codes this streak reported. */
  private failures = 0;
  private readonly reported = new Set<string>();
  /** A dial failed or the connection was lost, and no dial has succeeded since. */
  private down = false;

  constructor(settings: LinkSettings, peer: string, address: string) {
    this.s = settings;
    this.peer = peer;
    this.address = address;
    this.flushBound = () => {
      this.flushScheduled = false;
      this.flush();
    };
  }

  get connected(): boolean {
    return this.state === "open";
  }

  /** "open", "connecting" (dialling or in its handshake), "reconnecting" (backing off) or "idle". */
  get linkState(): "open" | "connecting" | "reconnecting" | "idle" | "closed" {
    return this.state === "backoff" ? "reconnecting" : this.state;
  }

  /**
   * Sends `payload` only on a connection that is open or being dialled now, never on a later
   * one: on the open connection it is queued (true); otherwise it is held for the connection
   * being dialled (true; a link backing off after a failure dials at once for it, so a peer
   * that is back is reached without waiting out the backoff), and `onUnsent` is called if that
   * attempt fails, or the link is cut, reset or closed first. False when nothing could be kept
   * (too many held, an unparsable address). So when it does not go out, no byte of it has, and
   * the caller is told.
   */
  sendIfConnected(payload: Uint8Array, onUnsent: () => void): boolean {
    if (this.state === "backoff") {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.connect();
    } else if (this.state === "idle") this.connect();
    if (this.state === "open") {
      this.enqueue(payload);
      return true;
    }
    if (this.state !== "connecting" || this.held.length >= MAX_HELD) return false;
    this.held.push({ payload, onUnsent });
    return true;
  }

  /** The connection the held payloads waited for did not come up: hand them back. */
  private dropHeld(): void {
    if (this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    countDrop(this.s.counters, this.peer, "not_connected", held.length);
    for (const h of held) h.onUnsent();
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Bytes of the queued payloads. */
  get queuedPayloadBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Queues `payload`; it goes out in the next batch. Returns false if it displaced an older one.
   * While the peer is down only the newest maxQueuePayloadsDown are kept. `onLost` is called
   * (once) if the payload is dropped before it is written, or its write fails.
   */
  enqueue(payload: Uint8Array, onLost?: () => void): boolean {
    let displaced = false;
    const max = this.down ? this.s.maxQueuePayloadsDown : this.s.maxQueuePayloads;
    while (
      this.queued > 0 &&
      (this.queued >= max || this.queuedBytes + payload.length > this.s.maxQueueBytes)
    ) {
      this.dropOldest();
      displaced = true;
    }
    this.queue.push(payload);
    this.queuedBytes += payload.length;
    if (onLost !== undefined) this.lost.set(payload, onLost);
    if (this.state === "idle") this.connect();
    else if (this.state === "open" && !this.flushScheduled) {
      // Collect everything sent by the current synchronous run into one frame, and still
      // write it before control returns to the event loop.
      this.flushScheduled = true;
      process.nextTick(this.flushBound);
    }
    return !displaced;
  }

  private dropOldest(): void {
    const p = this.queue[this.head];
    this.queue[this.head] = undefined as unknown as Uint8Array;
    this.head++;
    this.queuedBytes -= p.length;
    countDrop(this.s.counters, this.peer, this.down ? "unreachable" : "queue_full");
    this.reportLost(p);
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops the queue (counted by the caller) and hands back held payloads (see sendIfConnected). */
  clearQueue(): number {
    const n = this.dropQueue();
    this.dropHeld();
    return n;
  }

  /** Empties the queue, reporting the payloads whose loss is watched; returns how many it held. */
  private dropQueue(): number {
    const n = this.queued;
    const dropped = this.lost.size > 0 ? this.queue.slice(this.head) : [];
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    for (const p of dropped) this.reportLost(p);
    return n;
  }

  private reportLost(p: Uint8Array): void {
    const cb = this.lost.get(p);
    if (cb === undefined) return;
    this.lost.delete(p);
    cb();
  }

  private connect(): void {
    if (this.state === "closed") return;
    let addr: { host: string; port: number };
    try {
      addr = parseAddress(this.address);
    } catch {
      this.s.counters.connectFailures++;
      this.scheduleReconnect();
      this.down = true;
      while (this.queued > this.s.maxQueuePayloadsDown) this.dropOldest();
      this.s.onUnreachable(this.peer);
      return;
    }
    this.state = "connecting";
    const cNonce = newNonce();
    const own = this.s.clusterId();
    const cluster = own === "" ? undefined : own;
    const sock =
      this.s.lookup === undefined
        ? net.connect({ host: addr.host, port: addr.port })
        : net.connect({ host: addr.host, port: addr.port, lookup: this.s.lookup });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 5000);
    // The server only ever sends one small CHALLENGE frame.
    const reader = new FrameReader(HANDSHAKE_FRAME_BYTES);
    const armHandshake = (): void => {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.s.onReject("handshake_timeout", this.peer, "no challenge from the server");
        sock.destroy();
      }, this.s.handshakeTimeoutMs);
    };
    if (net.isIP(addr.host) !== 0) armHandshake();
    else {
      // The lookup has its own bound, so a slow resolver is reported as one, not as a
      // handshake timeout; the handshake's starts once the name resolved.
      const host = addr.host;
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.sock !== sock) return;
        const err: NodeJS.ErrnoException = Object.assign(
          new Error(`DNS lookup of ${host} got no answer within ${this.s.lookupTimeoutMs} ms`),
          { code: "EDNS_TIMEOUT", syscall: "getaddrinfo", hostname: host },
        );
        this.dialFailed(err);
        sock.destroy();
      }, this.s.lookupTimeoutMs);
      sock.once("lookup", (err: Error | null) => {
        if (this.sock !== sock || err !== null) return;
        if (this.timer) clearTimeout(this.timer);
        armHandshake();
      });
    }
    sock.on("connect", () => {
      sock.write(encodeHello(this.s.self, this.peer, cNonce, cluster));
    });
    sock.on("data", (chunk: Buffer) => {
      if (this.sock !== sock) return;
      try {
        reader.push(chunk, (type, body) => {
          if (this.state === "connecting" && type === FRAME_REFUSE && cluster !== undefined) {
            this.s.onReject("cluster_mismatch", this.peer, `refused by the server: ${body.toString("utf8")}`);
            sock.destroy();
            return false;
          }
          if (
            this.state !== "connecting" ||
            type !== FRAME_CHALLENGE ||
            body.length !== NONCE_BYTES + MAC_BYTES
          ) {
            this.s.onReject("malformed", this.peer, `unexpected frame type ${type} from the server`);
            sock.destroy();
            return false;
          }
          const sNonce = Buffer.from(body.subarray(0, NONCE_BYTES));
          const proof = body.subarray(NONCE_BYTES);
          if (!macEqual(proof, serverProof(this.s.key, this.peer, this.s.self, cNonce, sNonce, cluster))) {
            this.s.onReject("bad_server_proof", this.peer, "server does not know the cluster secret");
            sock.destroy();
            return false;
          }
          sock.write(encodeAuth(clientProof(this.s.key, this.s.self, this.peer, sNonce, cNonce, cluster)));
          this.session = sessionKey(this.s.key, this.s.self, this.peer, cNonce, sNonce, cluster);
          this.seq = 0;
          this.state = "open";
          this.down = false;
          this.attempt = 0;
          if (this.reported.size > 0) this.s.onDialRecovered(this.peer, this.address, this.failures);
          this.failures = 0;
          this.reported.clear();
          if (this.timer) clearTimeout(this.timer);
          this.timer = null;
          this.s.counters.connects++;
          const held = this.held;
          this.held = [];
          for (const h of held) this.enqueue(h.payload);
          this.flush();
          return true;
        });
      } catch (err) {
        const reason = err instanceof FrameError ? err.reason : "malformed";
        this.s.onReject(reason, this.peer, String(err));
        sock.destroy();
      }
    });
    sock.on("drain", () => {
      if (this.sock === sock) this.flush();
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (this.state === "open" || this.sock !== sock) return;
      this.dialFailed(err);
    });
    sock.on("close", () => {
      if (this.sock !== sock) return;
      const wasOpen = this.state === "open";
      this.sock = null;
      this.session = null;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (this.state !== "closed") this.scheduleReconnect();
      this.dropHeld();
      if (this.state === "closed") return;
      // A lost connection or a dial that never completed its handshake (after close() or a
      // deliberate reset() this socket is no longer ours). What waited for a lost connection
      // is stale by the time the peer is back: dropped; after a failed dial, all but the newest.
      this.down = true;
      if (wasOpen) countDrop(this.s.counters, this.peer, "unreachable", this.dropQueue());
      else while (this.queued > this.s.maxQueuePayloadsDown) this.dropOldest();
      this.s.onUnreachable(this.peer);
    });
  }

  /** Counts a failed dial; reports it if the streak has not reported its code yet. */
  private dialFailed(err: NodeJS.ErrnoException): void {
    this.s.counters.connectFailures++;
    this.failures++;
    this.s.onDialError(this.peer, err);
    const code = err.code ?? err.message;
    if (this.reported.has(code) || this.reported.size >= MAX_REPORTED_CODES) return;
    this.reported.add(code);
    this.s.onDialFailure(this.peer, this.address, err, this.failures);
  }

  private scheduleReconnect(): void {
    this.state = "backoff";
    const exp = Math.min(this.s.backoffMaxMs, this.s.backoffMinMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    const delay = exp / 2 + (this.s.rand() * exp) / 2;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === "backoff") this.connect();
    }, delay);
  }

  /** Writes queued payloads as batched frames until the socket buffer reaches the high-water mark. */
  private flush(): void {
    const sock = this.sock;
    const session = this.session;
    if (this.state !== "open" || sock === null || session === null) return;
    while (this.queued > 0 && sock.writableLength < this.s.highWaterBytes) {
      let end = this.head;
      let bytes = 0;
      const budget = Math.min(this.s.maxBatchBytes, this.s.maxFrameBytes - 64);
      while (end < this.queue.length && (end === this.head || bytes + this.queue[end].length + 4 <= budget)) {
        bytes += this.queue[end].length + 4;
        end++;
      }
      this.seq++;
      const frame = encodeDataUnsigned(this.seq, this.queue, this.head, end);
      signData(session, dataMacRange(frame)).copy(frame, frame.length - MAC_BYTES);
      const c = this.s.counters;
      c.framesSent++;
      c.payloadsSent += end - this.head;
      c.bytesSent += frame.length;
      // Only frames carrying a watched payload pay for a list and a write callback.
      let watched: (() => void)[] | undefined;
      for (let k = this.head; k < end; k++) {
        const p = this.queue[k];
        this.queuedBytes -= p.length;
        this.queue[k] = undefined as unknown as Uint8Array;
        const cb = this.lost.size > 0 ? this.lost.get(p) : undefined;
        if (cb !== undefined) {
          this.lost.delete(p);
          if (watched === undefined) watched = [cb];
          else watched.push(cb);
        }
      }
      this.head = end;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      if (watched === undefined) sock.write(frame);
      else {
        // The connection may fail before the frame left (destroyed with it still buffered).
        const report = watched;
        sock.write(frame, (err) => {
          if (err) for (const cb of report) cb();
        });
      }
    }
  }

  /** Drops the current connection (if any) and dials again; used when the address changes. */
  reset(address: string): void {
    this.address = address;
    if (this.state === "closed") return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const sock = this.sock;
    this.sock = null;
    this.session = null;
    sock?.destroy();
    this.state = "idle";
    this.down = false;
    this.attempt = 0;
    this.failures = 0;
    this.reported.clear();
    this.dropHeld();
    if (this.queued > 0) this.connect();
  }

  close(): void {
    this.state = "closed";
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.sock?.destroy();
    this.sock = null;
    countDrop(this.s.counters, this.peer, "stopped", this.clearQueue());
  }
}
