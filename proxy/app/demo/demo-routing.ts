// The `pools:` and `routes:` both demos share: one ring pool "demo" of the built-in echo
// upstreams (active health checks on /health) keyed on header:x-user-id, cookie:uid,
// query:user, then the client address.

export const DEMO_POOL = "demo";

export function demoRoutingYaml(upstreams: ReadonlyArray<{ id: string; address: string }>): string {
  const members = upstreams.map((u) => `      - { id: ${u.id}, address: "${u.address}" }`).join("\n");
  return `pools:
  ${DEMO_POOL}:
    algorithm: ring
    members:
${members}
    healthCheck: { path: /health, interval: 1s, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 2 }
routes:
  - match: { host: "*", pathPrefix: / }
    pool: ${DEMO_POOL}
    key: [header:x-user-id, cookie:uid, query:user, ip]
    onMissingKey: random
`;
}
