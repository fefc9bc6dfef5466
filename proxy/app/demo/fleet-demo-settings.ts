// The fleet demo's cluster layout in one place: which instances exist, which of them vote,
// which ports they use, the config file each one gets and the command line that starts it.
// A change to how a node founds or joins a cluster (e.g. an explicit bootstrap flag) is made
// here and nowhere else in the demo.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { demoRoutingYaml } from "./demo-routing.js";

export interface DemoInstance {
  id: string;
  voter: boolean;
  httpPort: number;
  adminPort: number;
  raftPort: number;
  dataDir: string;
  configPath: string;
}

export const DEMO_VOTERS = ["a", "b", "c"] as const;
export const DEMO_LEARNERS = ["d"] as const;
export const DEMO_UPSTREAMS = ["u1", "u2", "u3", "u4"] as const;
export { DEMO_POOL } from "./demo-routing.js";
/** Default first ports; instance i uses base + i. */
export const DEMO_DEFAULT_PORTS = { http: 8080, admin: 9901, raft: 7401 } as const;

export interface DemoPorts {
  http: number[];
  admin: number[];
  raft: number[];
}

/** The instances, in order: voters first, then learners. `dir` holds each one's config and data. */
export function demoInstances(dir: string, ports: DemoPorts): DemoInstance[] {
  const ids = [...DEMO_VOTERS, ...DEMO_LEARNERS];
  return ids.map((id, i) => ({
    id,
    voter: (DEMO_VOTERS as readonly string[]).includes(id),
    httpPort: ports.http[i],
    adminPort: ports.admin[i],
    raftPort: ports.raft[i],
    dataDir: join(dir, id, "data"),
    configPath: join(dir, id, "shardgate.yaml"),
  }));
}

/** The YAML of one instance: same routing, peers and voters everywhere, its own id and ports. */
export function demoInstanceYaml(
  self: DemoInstance,
  all: readonly DemoInstance[],
  upstreams: ReadonlyArray<{ id: string; address: string }>,
  adminToken: string,
  secret: string,
): string {
  const peers = all.map((n) => `    - { id: ${n.id}, address: "127.0.0.1:${n.raftPort}" }`).join("\n");
  const admins = all.map((n) => `"http://127.0.0.1:${n.adminPort}"`).join(", ");
  return `# Written by \`shardgate demo\` for instance ${self.id}.
listen:
  http: 127.0.0.1:${self.httpPort}
  admin: 127.0.0.1:${self.adminPort}
admin:
  token: "${adminToken}"
  fleet: [${admins}]
log:
  level: info
  accessLog: false
headers:
  memberHeader: x-shardgate-member
  ringVersionHeader: x-shardgate-ring-version
cluster:
  id: ${self.id}
  listen: 127.0.0.1:${self.raftPort}
  dataDir: ${JSON.stringify(self.dataDir)}
  secret: "${secret}"
  peers:
${peers}
  voters: [${DEMO_VOTERS.join(", ")}]
  electionTimeout: 1s
  heartbeat: 100ms
${demoRoutingYaml(upstreams)}`;
}

/**
 * Arguments after the CLI path that start one instance. A voter founds the demo's cluster
 * (--bootstrap) only on its first start, when its data directory does not exist yet; a
 * restart on a kept --data-dir rejoins on its own log, as a production voter does.
 */
export function demoInstanceArgs(self: DemoInstance): string[] {
  const args = ["start", "--config", self.configPath, "--drain-timeout", "3s"];
  if (self.voter && !existsSync(self.dataDir)) args.push("--bootstrap");
  return args;
}
