// The config of the dashboard tests: one pool, `big`, of members on loopback addresses nobody
// answers, with no health checks (the pool is only looked at, never sent to), an admin token,
// and one route to it.

/** `n` members; `member(i)` names the ith one's id and port. */
export function unansweredPoolYaml(
  token: string,
  n: number,
  member: (i: number) => { id: string; port: number },
): string {
  const lines = [
    "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }",
    `admin: { token: "${token}" }`,
    "log: { accessLog: false }",
    "pools:",
    "  big:",
    "    members:",
  ];
  for (let i = 0; i < n; i++) {
    const { id, port } = member(i);
    lines.push(`      - { id: ${id}, address: "127.0.0.1:${port}" }`);
  }
  lines.push("routes:", "  - { pool: big, key: [header:x-k] }");
  return `${lines.join("\n")}\n`;
}
