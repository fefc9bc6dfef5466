// Transport counters, exported by the proxy as metrics. Rejections are counted by reason;
// every inbound rejection also drops the connection. oversized_send is outbound: a payload
// over what a frame may carry, refused here instead of sent (the receiver would drop it and
// the connection with it).

export const REJECT_REASONS = [
  "bad_mac",
  "replay",
  "oversized",
  "malformed",
  "wrong_receiver",
  "bad_version",
  "handshake_timeout",
  "bad_server_proof",
  "too_many_handshakes",
  "cluster_mismatch",
  "oversized_send",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * not_connected: a payload that may only use the current connection (send's onUnsent) found none.
 * unreachable: queued for a peer whose connection was lost, or past the few held while it is down.
 */
export const DROP_REASONS = [
  "queue_full",
  "cut",
  "no_address",
  "stopped",
  "not_connected",
  "unreachable",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface TransportCounters {
  framesSent: number;
  payloadsSent: number;
  bytesSent: number;
  framesReceived: number;
  payloadsReceived: number;
  bytesReceived: number;
  connects: number;
  connectFailures: number;
  inboundAccepted: number;
  rejected: Record<RejectReason, number>;
  dropped: Record<DropReason, number>;
  /**
   * The same drops and rejections per peer: one entry per peer of the configuration (the
   * transport's links) and one, UNKNOWN_PEER, for every other name (a forged hello's claimed id,
   * a remote address, a peer with no address), so the set stays bounded.
   */
  byPeer: Map<string, PeerCounters>;
}

/** Drops and rejections of one peer. */
export interface PeerCounters {
  rejected: Record<RejectReason, number>;
  dropped: Record<DropReason, number>;
}

/** The byPeer entry for names outside the configuration. */
export const UNKNOWN_PEER = "unknown";

export function newPeerCounters(): PeerCounters {
  const rejected = {} as Record<RejectReason, number>;
  for (const r of REJECT_REASONS) rejected[r] = 0;
  const dropped = {} as Record<DropReason, number>;
  for (const d of DROP_REASONS) dropped[d] = 0;
  return { rejected, dropped };
}

function peerCounters(c: TransportCounters, peer: string): PeerCounters {
  let p = c.byPeer.get(peer) ?? c.byPeer.get(UNKNOWN_PEER);
  if (p === undefined) {
    p = newPeerCounters();
    c.byPeer.set(UNKNOWN_PEER, p);
  }
  return p;
}

/** Counts `n` payloads to or from `peer` dropped for `reason`, in total and for the peer. */
export function countDrop(c: TransportCounters, peer: string, reason: DropReason, n = 1): void {
  if (n === 0) return;
  c.dropped[reason] += n;
  peerCounters(c, peer).dropped[reason] += n;
}

/** Counts one rejection of `reason` from or to `peer`, in total and for the peer. */
export function countReject(c: TransportCounters, peer: string, reason: RejectReason): void {
  c.rejected[reason]++;
  peerCounters(c, peer).rejected[reason]++;
}

export function newCounters(): TransportCounters {
  const { rejected, dropped } = newPeerCounters();
  return {
    framesSent: 0,
    payloadsSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    payloadsReceived: 0,
    bytesReceived: 0,
    connects: 0,
    connectFailures: 0,
    inboundAccepted: 0,
    rejected,
    dropped,
    byPeer: new Map([[UNKNOWN_PEER, newPeerCounters()]]),
  };
}
