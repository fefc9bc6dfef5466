// An 8 MiB upload through each forwarding engine to a fast upstream (one that reads the body and
// answers 200), with the direct upload as the floor: whether an upload through undici costs more
// than through http-proxy. Rounds interleave the three targets so load drifts hit all alike.
// Run: npm run build && node dist/bench/upload-engines.js [rounds]

import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { startShardgate, stopAll } from "../test/support/shardgate-process.js";
import { runIfMain } from "./run-if-main.js";

const BODY = Buffer.alloc(8 * 1024 * 1024, 0x61);

function upload(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const u = new URL(url);
    const rq = request(
      {
        host: "127.0.0.1",
        port: u.port,
        path: "/u",
        method: "POST",
        headers: { "x-user-id": "k", "content-length": BODY.length },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(Number(process.hrtime.bigint() - t0) / 1e6));
      },
    );
    rq.on("error", reject);
    rq.end(BODY);
  });
}

export async function run(argv: string[]): Promise<number> {
  const rounds = Math.max(5, Number(argv[0] ?? 60) || 60);
  const up = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  await new Promise<void>((r) => up.listen(0, "127.0.0.1", r));
  const port = (up.address() as AddressInfo).port;
  const targets: Record<string, string> = { direct: `http://127.0.0.1:${port}` };
  try {
    for (const engine of ["undici", "http-proxy"]) {
      const sg = await startShardgate(
        `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${port}" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
        { env: { SHARDGATE_ENGINE: engine } },
      );
      targets[engine] = sg.httpUrl;
    }
    const names = Object.keys(targets);
    const ms: Record<string, number[]> = {};
    for (const n of names) ms[n] = [];
    for (let i = 0; i < 3; i++) for (const n of names) await upload(targets[n]);
    for (let i = 0; i < rounds; i++) for (const n of names) ms[n].push(await upload(targets[n]));
    const median: Record<string, number> = {};
    for (const n of names) {
      const v = ms[n].sort((a, b) => a - b);
      median[n] = v[v.length >> 1];
      const p10 = v[Math.floor(v.length * 0.1)];
      const p90 = v[Math.floor(v.length * 0.9)];
      console.log(
        `${n.padEnd(10)} median ${median[n].toFixed(1)} ms  p10 ${p10.toFixed(1)}  p90 ${p90.toFixed(1)}  ${(8 / (median[n] / 1000)).toFixed(0)} MiB/s`,
      );
    }
    console.log(
      `undici / http-proxy median: ${(median.undici / median["http-proxy"]).toFixed(2)}x (${rounds} rounds)`,
    );
    return 0;
  } finally {
    await stopAll();
    up.close();
  }
}

runIfMain(import.meta.url, run);
