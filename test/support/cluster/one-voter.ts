// The cluster settings of a one-voter cluster "a" on loopback, for tests that drive a single
// ClusterNode in process (a fresh cluster it founds itself, fast election and heartbeat).

import type { ClusterSettings } from "../../../proxy/cluster/cluster-settings.js";

export function oneVoterSettings(port: number, dataDir: string, secret: string): ClusterSettings {
  return {
    id: "a",
    dataDir,
    ephemeral: true,
    peers: { a: `127.0.0.1:${port}` },
    listen: { host: "127.0.0.1", port },
    voters: ["a"],
    learners: [],
    secret,
    electionMs: 300,
    heartbeatMs: 50,
    faultInjection: false,
    implicit: false,
    bootstrap: "new",
    joinTimeoutMs: 60_000,
  };
}
