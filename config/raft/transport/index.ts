// Public surface of the Raft transport.
export { clientProof, newNonce, secretKey, serverProof, sessionKey, signData } from "./auth.js";
export { helloClusterRefusal } from "./cluster-check.js";
export * as frames from "./frames.js";
export { parseAddress } from "./peer-link.js";
export {
  DROP_REASONS,
  type DropReason,
  type PeerCounters,
  REJECT_REASONS,
  type RejectReason,
  type TransportCounters,
  UNKNOWN_PEER,
} from "./stats.js";
export {
  type OversizedEvent,
  type PeerStats,
  type RejectEvent,
  TcpTransport,
  type TcpTransportOptions,
  type TransportStats,
} from "./tcp-transport.js";
