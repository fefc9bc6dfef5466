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
}

export function newCounters(): TransportCounters {
  const rejected = {} as Record<RejectReason, number>;
  for (const r of REJECT_REASONS) rejected[r] = 0;
  const dropped = {} as Record<DropReason, number>;
  for (const d of DROP_REASONS) dropped[d] = 0;
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
  };
}
