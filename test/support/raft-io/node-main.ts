// One shardgate Raft member as an OS process, for the process test and the benchmark: a KV
// state machine + driver + file storage + transport, and a tiny HTTP API on 127.0.0.1:
//   PUT /kv/<key> (body = value)  -> 200 {"index"} once applied here; 503 {"code","leader"} otherwise
//   GET /kv/<key>[?linearizable]  -> 200 {"value"} or 404; linearizable runs a ReadIndex first
//   GET /status                   -> the driver's status plus `leaderTerms` (LeaderTerm: this
//                                    process's own instants of election and first commit per term)
//                                    `campaigns` (the instants it started pre-votes) and `ticks`
//                                    (instants of a ticker at the driver's interval)
//   GET /dump                     -> every key and value
// Configuration is one JSON argument (see NodeConfig). Prints {"ready":true,"http":port} once serving.
import * as http from "node:http";
import { DriverError, RaftDriver } from "../../../config/raft/driver.js";
import { KvStateMachine } from "./kv-state-machine.js";

export interface NodeConfig {
  id: string;
  dataDir: string;
  secret: string;
  peers: Record<string, string>;
  bootstrap: string[];
  electionMs: number;
  heartbeatMs: number;
  fsync: boolean;
  snapshotEvery?: number;
  /** Seed of the core's election-timeout PRNG (tests pass one so runs can be replayed). */
  seed?: number;
}

/**
 * This process's terms as leader, newest last (at most 16): when it became leader and when it
 * first applied an entry of that term (the no-op a new leader appends), both Date.now() of this
 * process. The failover test reads the product's own election and commit instants from here
 * instead of timing when a loaded test client happened to notice them.
 */
export interface LeaderTerm {
  term: number;
  since: number;
  committedAt?: number;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function failure(res: http.ServerResponse, err: unknown): void {
  if (err instanceof DriverError)
    send(res, 503, { code: err.code, message: err.message, leader: err.leader });
  else send(res, 500, { code: "INTERNAL", message: String(err) });
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? "") as NodeConfig;
  const sm = new KvStateMachine();
  const driver = new RaftDriver({
    id: cfg.id,
    dataDir: cfg.dataDir,
    secret: cfg.secret,
    peers: cfg.peers,
    bootstrap: cfg.bootstrap,
    stateMachine: sm,
    electionMs: cfg.electionMs,
    heartbeatMs: cfg.heartbeatMs,
    fsync: cfg.fsync,
    snapshotEvery: cfg.snapshotEvery ?? 5000,
    seed: cfg.seed,
    onWarning: (m) => process.stderr.write(`[${cfg.id}] warning: ${m}\n`),
  });
  driver.on("fatal", (e: Error) => {
    process.stderr.write(`[${cfg.id}] fatal: ${e.message}\n`);
    process.exit(3);
  });
  // Role and leader changes with their instants, always: a few lines per election, which the
  // failover test prints when it fails.
  driver.on("roleChange", (role: string) => process.stderr.write(`${Date.now()} ${cfg.id} role ${role}\n`));
  driver.on("leaderChange", (lead: string, term: number) =>
    process.stderr.write(`${Date.now()} ${cfg.id} leader ${lead} term ${term}\n`),
  );
  const leaderTerms: LeaderTerm[] = [];
  /** When this process started campaigning (pre-vote), newest last (at most 16). */
  const campaigns: number[] = [];
  // A ticker beside the driver's, at its interval on the same event loop: its instants show how
  // many Raft ticks this process actually got in a stretch of wall time (a starved event loop
  // runs late and loses ticks, and the election timeout is counted in ticks).
  const ticks: number[] = [];
  setInterval(() => {
    ticks.push(Date.now());
    if (ticks.length > 400) ticks.splice(0, 200);
  }, cfg.heartbeatMs).unref();
  let termStartIndex = 0;
  driver.on("roleChange", (role: string) => {
    if (role === "preCandidate") {
      campaigns.push(Date.now());
      if (campaigns.length > 16) campaigns.shift();
    }
    if (role !== "leader") return;
    const s = driver.status();
    termStartIndex = s.lastIndex;
    leaderTerms.push({ term: s.term, since: Date.now() });
    if (leaderTerms.length > 16) leaderTerms.shift();
  });
  driver.on("applied", (index: number) => {
    const t = leaderTerms.at(-1);
    if (t !== undefined && t.committedAt === undefined && index >= termStartIndex) t.committedAt = Date.now();
  });
  await driver.start();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/status") {
      send(res, 200, { ...driver.status(), leaderTerms, campaigns, ticks });
      return;
    }
    if (url.pathname === "/dump") {
      send(res, 200, { applied: sm.lastApplied, map: Object.fromEntries(sm.map) });
      return;
    }
    if (!url.pathname.startsWith("/kv/")) {
      send(res, 404, { code: "NOT_FOUND" });
      return;
    }
    const key = decodeURIComponent(url.pathname.slice(4));
    if (req.method === "GET") {
      const serve = () => {
        const v = sm.map.get(key);
        if (v === undefined) send(res, 404, { code: "NOT_FOUND" });
        else send(res, 200, { value: v });
      };
      if (url.searchParams.has("linearizable")) driver.read().then(serve, (e) => failure(res, e));
      else serve();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const cmd = Buffer.from(JSON.stringify({ k: key, v: Buffer.concat(chunks).toString("utf8") }));
      driver.propose(cmd).then(
        (index) => send(res, 200, { index }),
        (e) => failure(res, e),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  process.stdout.write(`${JSON.stringify({ ready: true, http: port })}\n`);
  const shutdown = () => {
    server.close();
    server.closeAllConnections();
    driver.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`node-main: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
