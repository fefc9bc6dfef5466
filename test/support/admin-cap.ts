// Trying the admin port's connection cap (admin.maxConnections) from raw clients: a process whose
// admin port takes at most `cap` connections, and a client that reports the status line it read
// or how its connection ended without one (a cap that drops a client shows as the latter).

import { connect } from "node:net";
import { type RunningShardgate, startShardgate } from "./shardgate-process.js";
import { scaled } from "./wait.js";

/** A shardgate with admin.maxConnections at `cap` and one pool of the member on `memberPort`. */
export function startCappedAdmin(cap: number, memberPort: number): Promise<RunningShardgate> {
  return startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { maxConnections: ${cap} }
log: { level: info, accessLog: false }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${memberPort}" }]
routes:
  - { match: { pathPrefix: / }, pool: users, key: [header:x-user-id] }
`);
}

/** The status line one client read after writing `request`, or how its connection ended without one by `ms`. */
export function statusLineOf(port: number, request: string, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write(request));
    let got = "";
    let outcome = "";
    const done = (what: string) => {
      outcome ||= what;
      clearTimeout(timer);
      s.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done("nothing within the bound"), scaled(ms));
    s.on("data", (d) => {
      got += d.toString("latin1");
      const end = got.indexOf("\r\n");
      if (end > 0) done(got.slice(0, end));
    });
    s.on("error", (e: NodeJS.ErrnoException) => done(`error ${e.code}`));
    s.on("end", () => done("closed without an answer"));
  });
}
