// A one-pool routing section over test upstreams: pool "web" (ring) of the given upstreams on
// loopback, every path routed to it on header:x-user-id.

export function staticPoolYaml(
  upstreams: ReadonlyArray<{ id: string; port: number }>,
  onMissingKey: "reject" | "random" = "reject",
): string {
  return `pools:
  web:
    algorithm: ring
    members:
${upstreams.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n")}
routes:
  - match: { pathPrefix: / }
    pool: web
    key: [header:x-user-id]
    onMissingKey: ${onMissingKey}
`;
}
