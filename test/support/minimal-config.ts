// The minimal config file from issue 3, verbatim: config tests load it as written, process
// tests run it with its addresses pointed at real loopback ports.

/** The minimal config from issue 3, verbatim (issueMinimalConfig points it at real ports). */
export const ISSUE_MINIMAL_CONFIG = `listen:
  http: 127.0.0.1:8080
  admin: 127.0.0.1:9901
admin:
  token: \${SHARDGATE_ADMIN_TOKEN}
pools:
  users:
    algorithm: ring
    members:
      - { id: u1, address: 127.0.0.1:9101 }
      - { id: u2, address: 127.0.0.1:9102, weight: 2 }
      - { id: u3, address: 127.0.0.1:9103 }
    healthCheck: { path: /health, interval: 2s }
routes:
  - match: { host: "*", pathPrefix: / }
    pool: users
    key: [header:x-user-id, cookie:uid, ip]
    onMissingKey: random
`;

/** The issue's minimal config with members u1..u3 pointed at `ports` and listeners on free ports. */
export function issueMinimalConfig(ports: readonly [number, number, number]): string {
  return ISSUE_MINIMAL_CONFIG.replace("127.0.0.1:8080", "127.0.0.1:0")
    .replace("127.0.0.1:9901", "127.0.0.1:0")
    .replace("127.0.0.1:9101", `127.0.0.1:${ports[0]}`)
    .replace("127.0.0.1:9102", `127.0.0.1:${ports[1]}`)
    .replace("127.0.0.1:9103", `127.0.0.1:${ports[2]}`);
}

/**
 * One pool of one member nobody answers on (port 9, discard): enough for a process to start,
 * listen and route, for tests about the process itself (signals, logs, the data directory).
 */
export const ONE_MEMBER_POOL = `pools:
  p:
    members:
      - { id: m1, address: 127.0.0.1:9 }
routes:
  - { pool: p, key: [header:x-k] }
`;

/** ONE_MEMBER_POOL behind listeners on `http` and `admin` (0: any free port). */
export function oneMemberConfig(http = 0, admin = 0): string {
  return `listen: { http: 127.0.0.1:${http}, admin: 127.0.0.1:${admin} }\n${ONE_MEMBER_POOL}`;
}

/**
 * Pool `users` of one member `m1` at `address` ("host:port"), every path routed to it by
 * `x-user-id`; `poolLines` are more of the pool's settings, each line indented as `members`.
 */
export function usersPool(address: string, poolLines = ""): string {
  return `pools:
  users:
    members: [{ id: m1, address: "${address}" }]
${poolLines}routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`;
}

/**
 * usersPool with its member on port 9, where nobody answers: for tests about the admin port,
 * where the pool is only there to be valid.
 */
export const USERS_DEAD_MEMBER_POOL = usersPool("127.0.0.1:9");
