// The Raft transport between instances: authenticated, batched, length-prefixed frames over
// TCP, one outbound connection and bounded queue per peer (see peer-link.ts), inbound
// connections verified frame by frame (see inbound.ts). Payloads are opaque bytes; the
// driver puts encoded message batches in them. cut()/heal() drop traffic to and from a peer
// for fault injection (tests, the end-to-end suite, an admin hook).
import { EventEmitter } from "node:events";
import type { LookupFunction } from "node:net";
import * as net from "node:net";
import { secretKey } from "./auth.js";
import { maxDataPayloadBytes } from "./frames.js";
import { serveInbound } from "./inbound.js";
import { type LinkSettings, PeerLink, parseAddress } from "./peer-link.js";
import {
  countDrop,
  countReject,
  newCounters,
  newPeerCounters,
  type PeerCounters,
  type RejectReason,
  type TransportCounters,
  UNKNOWN_PEER,
} from "./stats.js";

export interface TcpTransportOptions {
  id: string;
  /** The cluster's shared secret (>= 16 bytes). */
  secret: string | Uint8Array;
  /** Where to listen; default 127.0.0.1, port 0 (ephemeral). */
  host?: string;
  port?: number;
  /**
   * False: accept no connections (a single node with no peers needs none); start() then
   * resolves with "" and only outbound links exist. Default true.
   */
  inbound?: boolean;
  /** Peer id -> "host:port". Updatable with setPeer/removePeer. */
  peers?: Readonly<Record<string, string>>;
  /** Called for every payload from an authenticated peer that is not cut. Must not block. */
  onMessage: (from: string, payload: Buffer) => void;
  /** Peers whose traffic is dropped from the start. */
  cut?: readonly string[];
  maxFrameBytes?: number;
  maxQueuePayloads?: number;
  maxQueueBytes?: number;
  /**
   * Payloads held for a peer whose link is not open (the newest; default 8). A dead peer then
   * costs these, not maxQueuePayloads; its queue is dropped when its connection is lost.
   */
  maxQueuePayloadsDown?: number;
  maxBatchBytes?: number;
  highWaterBytes?: number;
  handshakeTimeoutMs?: number;
  /**
   * Resolves peers named by a hostname (default Node's dns.lookup: getaddrinfo on libuv's
   * thread pool, which a hung resolver holds and the process's exit then waits for). The
   * process passes its bounded lookup; config/raft imports nothing of it.
   */
  lookup?: LookupFunction;
  /** A peer's hostname must resolve within this (default 10 s); the handshake's bound follows. */
  lookupTimeoutMs?: number;
  /**
   * A dial to `peer` failed (its lookup or its TCP connect): called once per streak of
   * failures and once more for each other error code in it (at most 8), never once per retry.
   */
  onDialFailure?: (peer: string, address: string, err: NodeJS.ErrnoException, failures: number) => void;
  /** Every failed dial, each retry included (for counting; onDialFailure is the one to log). */
  onDialError?: (peer: string, err: NodeJS.ErrnoException) => void;
  /** The link to `peer`, whose failures were reported, is open again. */
  onDialRecovered?: (peer: string, address: string, failures: number) => void;
  /**
   * Inbound connections still in their handshake (not yet authenticated) at once; past it a
   * new connection is closed at once and counted (too_many_handshakes). Default 64: a fleet
   * dials each peer once, so only a flood of unauthenticated sockets reaches it.
   */
  maxPendingHandshakes?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Jitter source for reconnect backoff (inject a seeded PRNG in tests). */
  rand?: () => number;
  /**
   * This node's cluster id ("" or absent: none yet; see setClusterId). With one, hellos name it
   * (version 2) and a hello naming another is refused (cluster_mismatch).
   */
  clusterId?: string;
}

export interface PeerStats {
  address: string;
  connected: boolean;
  /** Payloads queued for the peer, and their bytes. */
  queued: number;
  queuedBytes: number;
  cut: boolean;
}

export interface TransportStats extends TransportCounters {
  peers: Record<string, PeerStats>;
}

export interface RejectEvent {
  reason: RejectReason;
  peer: string;
  detail: string;
}

/** A payload refused before sending: larger than a DATA frame of maxFrameBytes may carry. */
export interface OversizedEvent {
  peer: string;
  bytes: number;
  limit: number;
}

/**
 * Events: "reject" (RejectEvent), "oversized" (OversizedEvent), "unreachable" (peer id: a dial
 * to it failed or its connection was lost; the Raft leader then probes it), "error" is never
 * emitted.
 */
export class TcpTransport extends EventEmitter {
  readonly id: string;
  private readonly opts: TcpTransportOptions;
  private readonly counters: TransportCounters = newCounters();
  private readonly settings: LinkSettings;
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound = new Map<string, net.Socket>();
  private readonly allSockets = new Set<net.Socket>();
  private readonly cuts = new Set<string>();
  private server: net.Server | null = null;
  private listenAddress = "";
  private stopped = false;
  /** Inbound connections accepted and not yet authenticated (bounded by maxPendingHandshakes). */
  private handshaking = 0;
  private cluster: string;

  constructor(opts: TcpTransportOptions) {
    super();
    if (!opts.id) throw new Error("transport: id is required");
    this.id = opts.id;
    this.opts = opts;
    this.cluster = opts.clusterId ?? "";
    const counters = this.counters;
    this.settings = {
      self: opts.id,
      key: secretKey(opts.secret),
      counters,
      maxFrameBytes: opts.maxFrameBytes ?? 64 * 1024 * 1024,
      maxQueuePayloads: opts.maxQueuePayloads ?? 4096,
      maxQueueBytes: opts.maxQueueBytes ?? 64 * 1024 * 1024,
      maxQueuePayloadsDown: opts.maxQueuePayloadsDown ?? 8,
      maxBatchBytes: opts.maxBatchBytes ?? 1024 * 1024,
      highWaterBytes: opts.highWaterBytes ?? 4 * 1024 * 1024,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 3000,
      lookupTimeoutMs: opts.lookupTimeoutMs ?? 10_000,
      lookup: opts.lookup,
      onDialFailure: opts.onDialFailure ?? (() => {}),
      onDialError: opts.onDialError ?? (() => {}),
      onDialRecovered: opts.onDialRecovered ?? (() => {}),
      onUnreachable: (peer) => {
        if (!this.stopped) this.emit("unreachable", peer);
      },
      backoffMinMs: opts.backoffMinMs ?? 20,
      backoffMaxMs: opts.backoffMaxMs ?? 1000,
      rand: opts.rand ?? Math.random,
      clusterId: () => this.cluster,
      onReject: (reason, peer, detail, claimed) => {
        // A name not proved (a hello's claim) is anyone's: counted under unknown, logged as said.
        countReject(counters, claimed === true ? UNKNOWN_PEER : peer, reason);
        this.emit("reject", { reason, peer, detail } satisfies RejectEvent);
      },
    };
    for (const c of opts.cut ?? []) this.cuts.add(c);
    for (const [id, addr] of Object.entries(opts.peers ?? {})) this.setPeer(id, addr);
  }

  /** Starts listening; resolves with the bound "host:port". */
  start(): Promise<string> {
    if (this.server) return Promise.resolve(this.listenAddress);
    if (this.opts.inbound === false) return Promise.resolve("");
    const server = net.createServer((sock) => this.accept(sock));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        server.on("error", () => {});
        const a = server.address() as net.AddressInfo;
        this.listenAddress = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
        resolve(this.listenAddress);
      });
    });
  }

  address(): string {
    return this.listenAddress;
  }

  /** This node's cluster id ("" while none). */
  get clusterId(): string {
    return this.cluster;
  }

  /**
   * Adopts a cluster id: later handshakes name it and refuse another. Connections already open
   * were checked against the previous one ("" checks nothing), so they are dropped and redialled.
   */
  setClusterId(id: string): void {
    if (id === this.cluster) return;
    this.cluster = id;
    for (const l of this.links.values()) l.reset(l.address);
    for (const s of this.inbound.values()) s.destroy();
  }

  private accept(sock: net.Socket): void {
    if (this.stopped) {
      sock.destroy();
      return;
    }
    if (this.handshaking >= (this.opts.maxPendingHandshakes ?? 64)) {
      this.settings.onReject(
        "too_many_handshakes",
        sock.remoteAddress ?? "?",
        "too many handshakes in progress",
      );
      sock.on("error", () => {});
      sock.destroy();
      return;
    }
    this.handshaking++;
    let pending = true;
    const settled = (): void => {
      if (pending) this.handshaking--;
      pending = false;
    };
    this.allSockets.add(sock);
    sock.on("close", () => {
      settled();
      this.allSockets.delete(sock);
      for (const [peer, s] of this.inbound) if (s === sock) this.inbound.delete(peer);
    });
    serveInbound(
      {
        self: this.id,
        key: this.settings.key,
        counters: this.counters,
        maxFrameBytes: this.settings.maxFrameBytes,
        handshakeTimeoutMs: this.settings.handshakeTimeoutMs,
        clusterId: this.settings.clusterId,
        onReject: this.settings.onReject,
        onAuthenticated: (peer, s) => {
          settled();
          // A restarted peer dials again: the newer connection wins.
          const old = this.inbound.get(peer);
          this.inbound.set(peer, s);
          old?.destroy();
        },
        deliver: (peer, payloads) => {
          if (this.cuts.has(peer)) {
            countDrop(this.counters, peer, "cut", payloads.length);
            return;
          }
          for (const p of payloads) {
            try {
              this.opts.onMessage(peer, p);
            } catch (err) {
              this.emit("handlerError", err);
            }
          }
        },
      },
      sock,
    );
  }

  /**
   * Queues `payload` for `to`. Returns false if it was dropped (cut, unknown peer, stopped, larger
   * than a frame may carry: counted as rejected oversized_send, an "oversized" event). With
   * `onUnsent`, the payload goes out only on the connection open or being dialled now (never on
   * a later one, see PeerLink.sendIfConnected): false when the link is reconnecting after a
   * failure, and `onUnsent` is called later if the dial in progress fails first. Either way no
   * byte of it went out, so the caller knows it was not delivered (a forwarded proposal then
   * fails at once instead of leaving its outcome unknown). Without `onUnsent`, `onLost` (if
   * given) is called once if the queued payload is later dropped before it is written or its
   * write fails (PeerLink.enqueue); a false return is not reported through it.
   */
  send(to: string, payload: Uint8Array, onUnsent?: () => void, onLost?: () => void): boolean {
    if (this.stopped) {
      countDrop(this.counters, to, "stopped");
      return false;
    }
    if (this.cuts.has(to)) {
      countDrop(this.counters, to, "cut");
      return false;
    }
    const link = this.links.get(to);
    if (link === undefined) {
      countDrop(this.counters, to, "no_address");
      return false;
    }
    // The receiver would refuse the frame and drop the connection (everything queued behind
    // it with it): nothing of it goes out, it is counted and the caller told.
    const limit = this.maxPayloadBytes;
    if (payload.length > limit) {
      countReject(this.counters, to, "oversized_send");
      this.emit("oversized", { peer: to, bytes: payload.length, limit } satisfies OversizedEvent);
      return false;
    }
    if (onUnsent === undefined) {
      link.enqueue(payload, onLost);
      return true;
    }
    if (link.sendIfConnected(payload, onUnsent)) return true;
    countDrop(this.counters, to, "not_connected");
    return false;
  }

  /** The largest payload send() accepts: what one DATA frame of maxFrameBytes may carry. */
  get maxPayloadBytes(): number {
    return maxDataPayloadBytes(this.settings.maxFrameBytes);
  }

  /** The state of the link to `peer`: "cut", "unknown" (no address), or the link's own state. */
  linkState(peer: string): "cut" | "unknown" | "open" | "connecting" | "reconnecting" | "idle" | "closed" {
    if (this.cuts.has(peer)) return "cut";
    return this.links.get(peer)?.linkState ?? "unknown";
  }

  /** Adds or updates a peer's address ("host:port"); a changed address reconnects. */
  setPeer(id: string, address: string): void {
    parseAddress(address);
    if (id === this.id) return;
    const link = this.links.get(id);
    if (link === undefined) {
      this.links.set(id, new PeerLink(this.settings, id, address));
      if (!this.counters.byPeer.has(id)) this.counters.byPeer.set(id, newPeerCounters());
    } else if (link.address !== address) link.reset(address);
  }

  /** Forgets `id` (it left the configuration): its link, inbound socket and any cut go. */
  removePeer(id: string): void {
    this.cuts.delete(id);
    const link = this.links.get(id);
    if (link === undefined) return;
    link.close();
    this.links.delete(id);
    if (id !== UNKNOWN_PEER) this.counters.byPeer.delete(id);
    this.inbound.get(id)?.destroy();
  }

  /** The ids of the peers with a link (an address). */
  peerIds(): IterableIterator<string> {
    return this.links.keys();
  }

  peers(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, l] of this.links) out[id] = l.address;
    return out;
  }

  /** Drops all traffic to and from `peer` until heal(peer). */
  cut(peer: string): void {
    this.cuts.add(peer);
    const link = this.links.get(peer);
    if (link) countDrop(this.counters, peer, "cut", link.clearQueue());
  }

  heal(peer: string): void {
    this.cuts.delete(peer);
  }

  cutPeers(): string[] {
    return [...this.cuts];
  }

  stats(): TransportStats {
    const peers: Record<string, PeerStats> = {};
    for (const [id, l] of this.links) {
      peers[id] = {
        address: l.address,
        connected: l.connected,
        queued: l.queued,
        queuedBytes: l.queuedPayloadBytes,
        cut: this.cuts.has(id),
      };
    }
    const c = this.counters;
    const byPeer = new Map<string, PeerCounters>();
    for (const [id, p] of c.byPeer)
      byPeer.set(id, { rejected: { ...p.rejected }, dropped: { ...p.dropped } });
    return { ...c, rejected: { ...c.rejected }, dropped: { ...c.dropped }, byPeer, peers };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const l of this.links.values()) l.close();
    for (const s of this.allSockets) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
