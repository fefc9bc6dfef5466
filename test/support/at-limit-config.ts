// The config the local-limit tries (fd-limit-*.test.ts, port-exhaustion-driver.ts) run shardgate
// with: one pool of one member keyed on x-user-id (what GET_AT_LIMIT in raw-ask.ts carries), and
// a breaker that would open after 3 failures in a row, so that asking more than 3 times at the
// limit shows whether a local failure was counted against the member.

/** `poolExtra`: more lines under the pool, each indented 4 spaces and ending in a newline. */
export function atLimitConfig(memberPort: number, poolExtra = ""): string {
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info, accessLog: true }
pools:
  users:
    members: [{ id: s1, address: "127.0.0.1:${memberPort}" }]
    breaker: { consecutiveFailures: 3, failureRate: 0.5, minRequests: 5, openFor: 60s }
${poolExtra}routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`;
}
