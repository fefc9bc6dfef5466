// The config the key-carrier tests start shardgate with: one h2c pool, "users", of naming members
// (key-carriers.ts: each answer says which member served it), the routes a test gives, and an
// admin port without a token (the tests ask /admin/route what a key maps to).

import type { MemberServer } from "./key-carriers.js";

export interface NamingPoolOptions {
  /** The lines under `listen:` above the admin one, each ending in a newline (default: http on a free port). */
  listen?: string;
  accessLog?: boolean;
}

/** `routes`: each one route's flow mapping, e.g. `{ match: { pathPrefix: / }, pool: users, key: [ip] }`. */
export function namingPoolConfig(
  members: readonly MemberServer[],
  routes: readonly string[],
  o: NamingPoolOptions = {},
): string {
  const list = members.map((m) => `      - { id: ${m.id}, address: "127.0.0.1:${m.port}" }`).join("\n");
  return `listen:
${o.listen ?? "  http: 127.0.0.1:0\n"}  admin: 127.0.0.1:0
admin:
  token: ""
log:
  level: info
  accessLog: ${o.accessLog ?? false}
pools:
  users:
    algorithm: ring
    protocol: h2c
    members:
${list}
routes:
${routes.map((r) => `  - ${r}\n`).join("")}`;
}
