// Config texts shared by the config tests.

// The minimal file from the issue; it must load exactly as written.
export const MINIMAL = `listen:
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

/** The smallest file with nothing but the required sections: every other value is a default. */
export const BARE = `pools:
  p:
    members: [{ id: a, address: "10.0.0.1:80" }]
routes:
  - pool: p
    key: [ip]
`;
