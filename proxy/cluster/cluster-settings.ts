// Resolves how this instance takes part in the fleet: its node id, data directory, peers,
// voters, secret and timings, from the config's `cluster:` section overridden by flags
// (--node-id, --data-dir) and env (SHARDGATE_NODE_ID, SHARDGATE_DATA_DIR,
// SHARDGATE_FAULT_INJECTION). Without a `cluster:` section the instance runs a one-member
// cluster in a temporary directory that is removed at shutdown: the committed state is seeded
// from the file on every start, so nothing needs to survive, and `npm start` and single-
// instance tests leave no files behind. Passing --data-dir (or the env) makes it durable.

import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { formatAddress } from "../../config/address.js";
import type { ShardgateConfig } from "../../config/file/schema.js";

export interface ClusterOverrides {
  nodeId?: string;
  dataDir?: string;
  faultInjection?: boolean;
  /** --bootstrap: this instance may found a new cluster from an empty data directory. */
  bootstrap?: boolean;
}

export interface ClusterSettings {
  readonly id: string;
  readonly dataDir: string;
  /** The data directory is a temporary one this process created and removes at shutdown. */
  readonly ephemeral: boolean;
  /** id -> "host:port" of every configured peer, this node included when listed. */
  readonly peers: Readonly<Record<string, string>>;
  /** Where the Raft transport listens; null: nowhere (a single node without peers). */
  readonly listen: { host: string; port: number } | null;
  readonly voters: readonly string[];
  /** Configured peers that are not voters: the leader adds them as learners. */
  readonly learners: readonly string[];
  readonly secret: string;
  readonly electionMs: number;
  readonly heartbeatMs: number;
  readonly faultInjection: boolean;
  /** True when the config has no `cluster:` section (implicit one-member cluster). */
  readonly implicit: boolean;
  /**
   * "new": an empty data directory founds the cluster (founding voters). "join": it never
   * does; the instance asks its peers to admit it (a voter that lost its disk comes back so).
   */
  readonly bootstrap: "new" | "join";
  /** A joining instance no member admitted within this time exits with the reason. */
  readonly joinTimeoutMs: number;
}

export type SettingsResult = { ok: true; settings: ClusterSettings } | { ok: false; message: string };

/**
 * A node id, as cluster.id, cluster.peers, --node-id and SHARDGATE_NODE_ID take it; the admin's
 * membership endpoints take the same, or a fleet could not name its own members there.
 */
export const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** What NODE_ID takes, in words. */
export const NODE_ID_EXPECTED = 'letters, digits, "_", ".", ":", "-" (max 128)';
const MIN_SECRET_BYTES = 16;

function truthy(v: string | undefined): boolean {
  return v === "1" || v === "true" || v === "yes";
}

/** Never throws: a bad combination comes back as a message naming the setting. */
export function resolveClusterSettings(
  config: ShardgateConfig,
  overrides: ClusterOverrides,
  env: NodeJS.ProcessEnv,
): SettingsResult {
  const c = config.cluster;
  const envId = env.SHARDGATE_NODE_ID === "" ? undefined : env.SHARDGATE_NODE_ID;
  const given = overrides.nodeId ?? envId ?? c?.id;
  if (given === undefined && c !== undefined && c.peers.length > 0) {
    return {
      ok: false,
      message: "cluster.id: not set; give it in the file, with --node-id ID or with SHARDGATE_NODE_ID",
    };
  }
  const id = given ?? "local";
  if (!NODE_ID.test(id)) {
    // Named by where it came from: the error is printed after the file's name, and a bad
    // --node-id or SHARDGATE_NODE_ID read as if the file held it.
    const from =
      overrides.nodeId !== undefined ? "--node-id" : envId !== undefined ? "SHARDGATE_NODE_ID" : "cluster.id";
    return {
      ok: false,
      message: `${from} ${JSON.stringify(id)}: expected a node id: ${NODE_ID_EXPECTED}`,
    };
  }
  const explicitDir = overrides.dataDir ?? env.SHARDGATE_DATA_DIR;
  const faultInjection =
    overrides.faultInjection ?? (c?.faultInjection === true || truthy(env.SHARDGATE_FAULT_INJECTION));
  if (c === undefined) {
    const ephemeral = explicitDir === undefined || explicitDir === "";
    return {
      ok: true,
      settings: {
        id,
        dataDir: ephemeral ? mkdtempSync(join(tmpdir(), "shardgate-raft-")) : resolve(explicitDir),
        ephemeral,
        peers: {},
        // Nobody can join an implicit cluster: no Raft listener.
        listen: null,
        voters: [id],
        learners: [],
        // Nobody else can join a cluster without peers, so any secret will do.
        secret: randomBytes(24).toString("hex"),
        // One voter elects itself after one timeout: keep start-up short.
        electionMs: 200,
        heartbeatMs: 50,
        faultInjection,
        implicit: true,
        // Nothing to join, and the state is reseeded from the file at every start.
        bootstrap: "new",
        joinTimeoutMs: 60_000,
      },
    };
  }
  // No prototype: a node id such as "constructor" must not look like a configured peer.
  const peers: Record<string, string> = Object.create(null);
  for (const p of c.peers) peers[p.id] = formatAddress(p.address);
  if (c.peers.length > 0 && peers[id] === undefined) {
    return { ok: false, message: `cluster.peers: no entry for this node's id "${id}"` };
  }
  const voters = c.peers.length === 0 ? [id] : c.voters;
  for (const v of voters) {
    if (c.peers.length > 0 && peers[v] === undefined)
      return { ok: false, message: `cluster.voters: "${v}" is not in cluster.peers` };
  }
  if (voters.length === 0) return { ok: false, message: "cluster.voters: at least one voter is needed" };
  const others = Object.keys(peers).filter((p) => p !== id);
  let secret = c.secret;
  if (others.length > 0 && Buffer.byteLength(secret, "utf8") < MIN_SECRET_BYTES) {
    return {
      ok: false,
      message: `cluster.secret: at least ${MIN_SECRET_BYTES} bytes are required with more than one peer (the same on every instance)`,
    };
  }
  if (Buffer.byteLength(secret, "utf8") < MIN_SECRET_BYTES) secret = randomBytes(24).toString("hex");
  // The schema defaulted listen from cluster.id's peer entry; a --node-id override picks its own.
  const own = peers[id];
  const listen = id !== c.id && own !== undefined ? parseHp(own) : c.listen;
  // SHARDGATE_BOOTSTRAP is checked, and a bad value refused with its error text, in one place:
  // proxy/app/env-flags.ts, before start and validate get here. Alone (no other peer) there is
  // nobody to join: founding is the only way to start.
  const envValue = env.SHARDGATE_BOOTSTRAP;
  const envBootstrap = envValue === "new" || envValue === "join" ? envValue : undefined;
  const bootstrap: "new" | "join" =
    overrides.bootstrap === true
      ? "new"
      : (envBootstrap ?? c.bootstrap ?? (others.length === 0 ? "new" : "join"));
  return {
    ok: true,
    settings: {
      id,
      dataDir: explicitDir !== undefined && explicitDir !== "" ? resolve(explicitDir) : c.dataDir,
      ephemeral: false,
      peers,
      listen: listen === null ? null : { host: listen.host, port: listen.port },
      voters,
      learners: Object.keys(peers).filter((p) => !voters.includes(p)),
      secret,
      electionMs: c.electionTimeout,
      heartbeatMs: c.heartbeat,
      faultInjection,
      implicit: false,
      bootstrap,
      joinTimeoutMs: c.joinTimeout,
    },
  };
}

function parseHp(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  const host = s.slice(0, i).replace(/^\[|\]$/g, "");
  return { host, port: Number(s.slice(i + 1)) };
}
