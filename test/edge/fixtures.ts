// Config texts shared by the edge-feature tests (affinity, rate limits, cache).

/** The example from issue 13, verbatim: it must validate and run as written. */
export const ISSUE_13_EXAMPLE = `redis: { url: redis://127.0.0.1:6379, keyPrefix: "sg:" }
routes:
  - match: { host: "*", pathPrefix: /api }
    pool: users
    key: [header:x-user-id, cookie:uid]
    affinity: { store: redis, ttl: 30m, mode: sticky }
    rateLimit: { limit: 100, window: 1s, store: redis, onStoreError: open }
  - match: { host: "*", pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: 1mb }
`;

/** The example with a pool section (the example names pool "users" but does not define it). */
export function issueExampleWithPool(
  members: ReadonlyArray<{ id: string; port: number }>,
  redisUrl: string,
): string {
  const list = members.map((m) => `      - { id: ${m.id}, address: "127.0.0.1:${m.port}" }`).join("\n");
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info, accessLog: false }
pools:
  users:
    members:
${list}
${ISSUE_13_EXAMPLE.replace("redis://127.0.0.1:6379", redisUrl)}`;
}
