// A pool snapshot member for unit tests of the connection pools: healthy, in rotation, its
// agent key the way pool snapshots build it (pool/id@host:port, "+tls" when it has TLS).

import type { SnapshotMember } from "../../proxy/routing/types.js";

export function snapshotMember(id: string, hostPort: string, tls?: { ca: string }): SnapshotMember {
  const [host, port] = hostPort.split(":");
  return {
    index: 0,
    id,
    address: { host, port: Number(port) },
    hostPort,
    weight: 1,
    healthy: true,
    draining: false,
    breakerOpen: false,
    breakerHalfOpen: false,
    agentKey: `p/${id}@${hostPort}${tls === undefined ? "" : "+tls"}`,
    tls: tls as SnapshotMember["tls"],
  };
}
