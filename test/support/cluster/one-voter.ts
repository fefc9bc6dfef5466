// The cluster settings of in-process ClusterNode tests on loopback: a voter of a fresh fleet
// that every voter founds (fast election and heartbeat), and the one-voter cluster "a".

import type { ClusterSettings } from "../../../proxy/cluster/cluster-settings.js";

export interface VoterSettingsInit {
  readonly id: string;
  /** id -> "127.0.0.1:port" of every voter. */
  readonly peers: Readonly<Record<string, string>>;
  readonly dataDir: string;
  readonly secret: string;
  /** Default true: the node removes its data directory on stop (false: it survives a restart). */
  readonly ephemeral?: boolean;
}

/** A founding voter of the fleet of every id in `peers`, listening on its own entry. */
export function voterSettings(o: VoterSettingsInit): ClusterSettings {
  const port = Number(o.peers[o.id].slice(o.peers[o.id].lastIndexOf(":") + 1));
  return {
    id: o.id,
    dataDir: o.dataDir,
    ephemeral: o.ephemeral ?? true,
    peers: o.peers,
    listen: { host: "127.0.0.1", port },
    voters: Object.keys(o.peers),
    learners: [],
    secret: o.secret,
    electionMs: 300,
    heartbeatMs: 50,
    faultInjection: false,
    implicit: false,
    // A fresh fleet: every voter founds it.
    bootstrap: "new",
    joinTimeoutMs: 60_000,
  };
}

export function oneVoterSettings(port: number, dataDir: string, secret: string): ClusterSettings {
  return voterSettings({ id: "a", peers: { a: `127.0.0.1:${port}` }, dataDir, secret });
}
