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
