// The shared cache's view of a request's headers as forwarded (forward/headers.ts
// upstreamHeaderView, taken for every cacheable request at lookup): `npm run bench --
// cache-view`. On a real IncomingMessage (one loopback request with a client X-Forwarded-For),
// the copy as an object spread and then this hop's five writes (before) against the view as
// built now (a name-by-name copy); ns per request, median of several passes after a warm-up.

import { createServer, get, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { upstreamHeaderView } from "../proxy/forward/headers.js";
import { checksum, nsPerCall } from "./micro-time.js";

/** One request as the server received it (the socket still open until `done`). */
async function oneRequest(): Promise<{ req: IncomingMessage; done: () => void }> {
  return new Promise((resolve) => {
    const server = createServer((req, res) =>
      resolve({
        req,
        done: () => {
          res.end();
          server.close();
        },
      }),
    );
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      const headers = {
        accept: "*/*",
        "user-agent": "bench/1",
        "accept-encoding": "gzip",
        "x-forwarded-for": "10.0.0.1",
      };
      get({ host: "127.0.0.1", port, path: "/a", headers, agent: false }, (r) => r.resume());
    });
  });
}

export async function run(_argv: string[]): Promise<number> {
  const { req, done } = await oneRequest();
  try {
    const n = 100_000;
    const spread = nsPerCall(n, 9, () => {
      let x = 0;
      for (let i = 0; i < n; i++) {
        const v: IncomingHttpHeaders = { ...req.headers };
        v["x-forwarded-for"] = "10.0.0.1, 127.0.0.1";
        v["x-forwarded-proto"] = "http";
        v["x-forwarded-host"] = req.headers.host;
        v.forwarded = "for=127.0.0.1;proto=http";
        v["x-request-id"] = "r";
        x += v.forwarded.length;
      }
      return x;
    });
    const now = nsPerCall(n, 9, () => {
      let x = 0;
      for (let i = 0; i < n; i++) x += (upstreamHeaderView(req, null, "r").forwarded as string).length;
      return x;
    });
    console.log("implementation                                  ns/request");
    console.log(`${"object spread, then five writes (before)".padEnd(48)}${spread.toFixed(0).padStart(10)}`);
    console.log(`${"upstreamHeaderView (name-by-name copy)".padEnd(48)}${now.toFixed(0).padStart(10)}`);
    console.log(`ratio ${(spread / now).toFixed(1)}x (sink ${checksum() & 1})`);
  } finally {
    done();
  }
  return 0;
}
