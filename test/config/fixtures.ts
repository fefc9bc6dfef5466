// Config texts shared by the config tests.

// The minimal file from the issue; it must load exactly as written.
export { ISSUE_MINIMAL_CONFIG as MINIMAL } from "../support/minimal-config.js";

/** The smallest file with nothing but the required sections: every other value is a default. */
export const BARE = `pools:
  p:
    members: [{ id: a, address: "10.0.0.1:80" }]
routes:
  - pool: p
    key: [ip]
`;
