// The YAML each fleet instance gets: the same routing (pools and routes) and cluster peer
// list for all, with the instance's own cluster.id, listen ports and dataDir. The Raft secret
// is read from the environment through ${SHARDGATE_CLUSTER_SECRET} interpolation, as an
// operator would ship it.

export interface FleetNodeSpec {
  id: string;
  httpPort: number;
  adminPort: number;
  raftPort: number;
  dataDir: string;
}

export interface FleetConfigOptions {
  /** Undefined: the shared file (see fleetConfigYaml). */
  self?: FleetNodeSpec;
  nodes: readonly FleetNodeSpec[];
  voters: readonly string[];
  /** "host:port" of the Consul HTTP API (the double, or a real agent). */
  consulAddress: string;
  consulToken?: string;
  electionTimeoutMs: number;
  heartbeatMs: number;
  adminToken: string;
  /** The `pools:` and `routes:` sections, at column 0. */
  routingYaml: string;
  accessLog?: boolean;
  level?: string;
  /** Lists every instance's admin URL in admin.fleet (the dashboard's fleet view); default false. */
  adminFleet?: boolean;
  /** Enables POST /admin/debug/cut and /heal (default true: the e2e tests need them). */
  faultInjection?: boolean;
}

/**
 * Environment variables of the shared-file variant: the file reads the instance's listener
 * ports from them, and --node-id / --data-dir override cluster.id / cluster.dataDir.
 */
export const SHARED_HTTP_PORT_ENV = "SG_E2E_HTTP_PORT";
export const SHARED_ADMIN_PORT_ENV = "SG_E2E_ADMIN_PORT";

/**
 * `self` given: one instance's own file. `self` undefined: the one file every instance shares
 * (as the issue's example ships it): ports from the environment, and the cluster's id and
 * dataDir are the first node's, to be overridden by each instance's --node-id / --data-dir.
 */
export function fleetConfigYaml(o: FleetConfigOptions): string {
  const peers = o.nodes.map((n) => `    - { id: ${n.id}, address: "127.0.0.1:${n.raftPort}" }`).join("\n");
  const shared = o.self === undefined;
  const self = o.self ?? o.nodes[0];
  const http = shared ? `\${${SHARED_HTTP_PORT_ENV}}` : String(self.httpPort);
  const admin = shared ? `\${${SHARED_ADMIN_PORT_ENV}}` : String(self.adminPort);
  return `listen:
  http: 127.0.0.1:${http}
  admin: 127.0.0.1:${admin}
admin:
  token: "${o.adminToken}"
${o.adminFleet ? `  fleet: [${o.nodes.map((n) => `"http://127.0.0.1:${n.adminPort}"`).join(", ")}]\n` : ""}log:
  level: ${o.level ?? "info"}
  accessLog: ${o.accessLog ?? true}
headers:
  memberHeader: x-shardgate-member
  ringVersionHeader: x-shardgate-ring-version
cluster:
  id: ${self.id}
${shared ? "" : `  listen: 127.0.0.1:${self.raftPort}\n`}  dataDir: ${JSON.stringify(self.dataDir)}
  secret: \${SHARDGATE_CLUSTER_SECRET}
  peers:
${peers}
  voters: [${o.voters.join(", ")}]
  electionTimeout: ${o.electionTimeoutMs}ms
  heartbeat: ${o.heartbeatMs}ms
  faultInjection: ${o.faultInjection ?? true}
discovery:
  consul: { address: "http://${o.consulAddress}", token: "${o.consulToken ?? ""}", wait: 10s }
${o.routingYaml}`;
}

export interface FleetRoutingOptions {
  /** Consul service name of the discovered pool "users". */
  service: string;
  /** Static pool "catalog" members (same upstreams, listed in the file). */
  staticMembers: ReadonlyArray<{ id: string; port: number }>;
  /** Extra lines under the users pool (indented 4 spaces), e.g. a breaker section. */
  usersExtra?: string;
  /** Extra lines under the catalog pool (indented 4 spaces), e.g. a healthCheck section. */
  catalogExtra?: string;
}

/**
 * Two pools: "users" discovered through Consul (every path but /static/), and "catalog", a
 * static list (paths under /static/). Both keyed on the x-user-id header; a request without
 * one is refused, so a test never gets a random member by accident.
 */
export function fleetRoutingYaml(o: FleetRoutingOptions): string {
  const members = o.staticMembers
    .map((m) => `      - { id: ${m.id}, address: "127.0.0.1:${m.port}" }`)
    .join("\n");
  return `pools:
  users:
    algorithm: ring
    discovery: { consul: { service: ${o.service}, passingOnly: true } }
${o.usersExtra ?? ""}
  catalog:
    algorithm: ring
    members:
${members}
${o.catalogExtra ?? ""}
routes:
  - match: { pathPrefix: /static/ }
    pool: catalog
    key: [header:x-user-id]
    onMissingKey: reject
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
    onMissingKey: reject
`;
}
