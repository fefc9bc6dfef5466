// The handshake's cluster check, as one rule the transport applies and the deterministic
// simulator models (test/raft/sim/driver-sim.ts): a hello that names a cluster id is refused
// by a node holding another one. A hello naming none (version 1: a joiner on an empty
// directory, the previous version) and a node holding none check nothing (README: Cluster
// identity, "Not covered").

/** Why a hello from `peer` naming cluster `theirs` is refused by `self` holding `own`, or null. */
export function helloClusterRefusal(
  peer: string,
  self: string,
  theirs: string | undefined,
  own: string,
): string | null {
  if (theirs === undefined || theirs === "" || own === "" || theirs === own) return null;
  return `cluster ID mismatch: ${peer} belongs to cluster ${theirs}, ${self} to cluster ${own}`;
}
