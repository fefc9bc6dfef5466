// A faithful in-process double of the parts of Consul's HTTP API that shardgate uses: agent
// service registration with HTTP and TTL checks, TTL check updates, /v1/health/service with
// real blocking-query semantics, and /v1/status/leader. It runs a real node:http server on
// 127.0.0.1 so the `consul` npm client talks to it exactly as it would to an agent, and adds
// test controls a real agent does not have: stop()/start() on the same port, a snapshot
// restore that moves indexes backwards, forced failures, broken health answers (held without a
// byte, garbage JSON, a body cut off), a seeded jitter and request counters.

import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { errorText } from "../../config/coded-error.js";
import { seededRandom } from "../../ring/random.js";
import { parseGoDuration } from "./consul/duration.js";
import { type EncodedAnswer, encodeAnswer } from "./consul/encoded-answer.js";
import { compileFilter, FilterError, type HealthEntryLike } from "./consul/filter.js";

type Status = "passing" | "warning" | "critical";
/** How setHealthFault() breaks /v1/health/service answers. */
export type HealthFault = "hang" | "garbage" | "truncated";
const STATUSES: readonly string[] = ["passing", "warning", "critical"];

export interface ConsulDoubleOptions {
  /** Seed for the blocking-query jitter, HTTP check stagger and ?passing order. Default 1. */
  seed?: number;
  nodeName?: string;
  nodeAddress?: string;
  datacenter?: string;
  /** When set, every request must carry this token (X-Consul-Token or ?token=), else 403. */
  aclToken?: string;
  /** Consul's max_query_time (default 10m) and default_query_time (default 5m), in ms. */
  maxQueryTimeMs?: number;
  defaultQueryTimeMs?: number;
  /**
   * Consul's check_update_interval (default 5m): a check update that changes only the
   * output is synced to the catalog (and moves the index) this much later; a status change
   * is synced at once.
   */
  checkUpdateIntervalMs?: number;
}

interface CheckState {
  CheckID: string;
  Name: string;
  Status: Status;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  Type: "http" | "ttl";
  CreateIndex: number;
  ModifyIndex: number;
  httpUrl?: string;
  intervalMs?: number;
  timeoutMs?: number;
  ttlMs?: number;
  timer?: NodeJS.Timeout;
  /** Output waiting for the deferred sync, and its timer. */
  pendingOutput?: string;
  syncTimer?: NodeJS.Timeout;
  /** The double's change counter when Status or Output last changed (never goes back). */
  rev: number;
}

interface ServiceState {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Weights: { Passing: number; Warning: number };
  CreateIndex: number;
  ModifyIndex: number;
  checks: CheckState[];
}

interface Waiter {
  service: string;
  minIndex: number;
  timer: NodeJS.Timeout;
  fire: () => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Go's strconv.ParseBool, which Consul uses for ?passing=. */
function parseGoBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

export class ConsulDouble {
  readonly host = "127.0.0.1";
  port = 0;
  /** Requests received per endpoint name, e.g. "health.service", "agent.service.register". */
  readonly requestCounts = new Map<string, number>();
  /** Tokens seen on health.service requests, newest last (bounded). */
  readonly seenTokens: string[] = [];
  /** Query strings of health.service requests, newest last (bounded). */
  readonly seenHealthQueries: string[] = [];

  private readonly healthCounts = new Map<string, number>();
  /** performance.now() when the last /v1/health/service answer was written (benchmarks split on it). */
  lastHealthAnswerAt: number | undefined;
  /** performance.now() when a check last changed status (benchmarks time a change from it). */
  lastStatusChangeAt: number | undefined;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly services = new Map<string, ServiceState>();
  private readonly serviceIndex = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  /**
   * Each service's last built entry and its encoded JSON, with the mutable fields it was built
   * from (check statuses, outputs, modify indexes, the node's serfHealth): an unchanged entry
   * is neither rebuilt nor re-serialised, and an answer is the entries' bytes copied into one
   * buffer. At 3,000 instances (2.7 MB) serialising the whole answer, then concatenating and
   * encoding it as one string, cost the scale bench's Consul row 20-50 ms per change: time
   * a real agent's answer does not add to what the bench means to measure (shardgate).
   */
  private readonly built = new WeakMap<ServiceState, { stamp: number; entry: HealthEntryLike }>();
  private readonly entryBytes = new WeakMap<HealthEntryLike, Buffer>();
  /**
   * Encoded answers by query (service, tags, filter) at the state version they were built
   * at: Consul answers a blocking query from its state store at an index, so every watcher
   * of one service woken by one change gets the same bytes, and they are encoded once.
   */
  private readonly encoded = new Map<string, { version: number } & EncodedAnswer>();
  /** Moves on every change of what an answer can show (bump() and restoreSnapshot()). */
  private version = 0;
  /** The last rev handed to a check (check and serfHealth changes; unlike the index, never reset). */
  private revs = 0;
  /** A service's instances sorted by ID; cleared on every registration and deregistration. */
  private readonly byName = new Map<string, ServiceState[]>();
  private readonly random: () => number;
  private readonly nodeName: string;
  private readonly nodeAddress: string;
  private readonly datacenter: string;
  private readonly maxQueryTimeMs: number;
  private readonly defaultQueryTimeMs: number;
  private readonly checkUpdateIntervalMs: number;
  private readonly aclToken: string | undefined;
  private index = 12;
  private lastDeregIndex = 0;
  private serf: CheckState;
  private running = false;
  private failure: { status: number; body: string } | undefined;
  private healthFault: HealthFault | undefined;

  private constructor(opts: ConsulDoubleOptions) {
    this.random = seededRandom(opts.seed ?? 1);
    this.nodeName = opts.nodeName ?? "double-node";
    this.nodeAddress = opts.nodeAddress ?? "127.0.0.1";
    this.datacenter = opts.datacenter ?? "dc1";
    this.maxQueryTimeMs = opts.maxQueryTimeMs ?? 600_000;
    this.defaultQueryTimeMs = opts.defaultQueryTimeMs ?? 300_000;
    this.checkUpdateIntervalMs = opts.checkUpdateIntervalMs ?? 300_000;
    this.aclToken = opts.aclToken;
    this.serf = {
      CheckID: "serfHealth",
      Name: "Serf Health Status",
      Status: "passing",
      Notes: "",
      Output: "Agent alive and reachable",
      ServiceID: "",
      ServiceName: "",
      Type: "ttl",
      CreateIndex: 10,
      ModifyIndex: 10,
      rev: 0,
    };
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  /** Starts a double on 127.0.0.1 port 0. */
  static async create(opts: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
    const d = new ConsulDouble(opts);
    await d.start();
    return d;
  }

  /** "127.0.0.1:<port>". */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  requestCount(endpoint: string): number {
    return this.requestCounts.get(endpoint) ?? 0;
  }

  /** /v1/health/service/:service requests received for one service. */
  healthRequestCount(service: string): number {
    return this.healthCounts.get(service) ?? 0;
  }

  /** Blocking queries on `service` currently held open. */
  blockedQueries(service: string): number {
    let n = 0;
    for (const w of this.waiters) if (w.service === service) n++;
    return n;
  }

  /** Current raft index of the double. */
  get currentIndex(): number {
    return this.index;
  }

  /** Listens again (on the same port after a stop()); resumes health checks. */
  async start(): Promise<void> {
    if (this.running) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onErr = (err: Error) => reject(err);
          this.server.once("error", onErr);
          this.server.listen(this.port, this.host, () => {
            this.server.off("error", onErr);
            resolve();
          });
        });
        break;
      } catch (err) {
        // The port of a stopped double can be briefly held; retry a bounded number of times.
        if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    this.port = (this.server.address() as AddressInfo).port;
    this.running = true;
    for (const svc of this.services.values()) for (const c of svc.checks) this.armCheck(c, true);
  }

  /**
   * Simulates the agent going away: refuses connections, drops every open connection
   * (in-flight blocking queries included) and pauses checks. State is kept for start().
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    for (const svc of this.services.values()) for (const c of svc.checks) this.disarm(c);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Stops for good. */
  async close(): Promise<void> {
    await this.stop();
  }

  /**
   * Simulates a snapshot restore: every index drops to `toIndex` (default 2) and every
   * blocking query wakes and answers with the lower index, as memdb's watches fire on restore.
   */
  restoreSnapshot(toIndex = 2): void {
    if (!Number.isSafeInteger(toIndex) || toIndex < 1)
      throw new RangeError("toIndex must be an integer >= 1");
    this.index = toIndex;
    this.version++;
    this.lastDeregIndex = Math.min(this.lastDeregIndex, toIndex);
    for (const k of this.serviceIndex.keys()) this.serviceIndex.set(k, toIndex);
    for (const w of [...this.waiters]) w.fire();
  }

  /** Alias of restoreSnapshot() under the name the brief uses. */
  setIndexBackwards(toIndex = 2): void {
    this.restoreSnapshot(toIndex);
  }

  /** While set, every request answers `status` with `body` (e.g. 500 "No cluster leader"). */
  setFailure(status: number | undefined, body = "No cluster leader"): void {
    this.failure = status === undefined ? undefined : { status, body };
  }

  /**
   * While set, every /v1/health/service request is answered wrong (the other endpoints are
   * not): "hang" takes the request and never sends a byte (past wait + jitter: only the
   * client's own timeout ends it), "garbage" answers 200 with an index and a body that is not
   * JSON, "truncated" answers 200 with a Content-Length the body never reaches, then closes.
   */
  setHealthFault(fault: HealthFault | undefined): void {
    this.healthFault = fault;
  }

  /** Changes the node-level serfHealth check, which appears in every entry's Checks. */
  setSerfHealth(status: Status): void {
    if (this.serf.Status === status) return;
    this.serf.Status = status;
    this.serf.rev = ++this.revs;
    const idx = this.bump();
    this.serf.ModifyIndex = idx;
    for (const name of this.serviceIndex.keys()) this.serviceIndex.set(name, idx);
    this.wake();
  }

  // ---- request handling ----

  private count(name: string): void {
    this.requestCounts.set(name, (this.requestCounts.get(name) ?? 0) + 1);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        this.route(req, res, url, Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        const status = err instanceof HttpError ? err.status : 500;
        if (!res.headersSent) {
          res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
        }
        res.end(errorText(err));
      }
    });
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): void {
    const path = url.pathname;
    const method = req.method ?? "GET";
    const name = endpointName(path);
    this.count(name);
    if (this.failure !== undefined) throw new HttpError(this.failure.status, this.failure.body);
    if (this.aclToken !== undefined) {
      const tok =
        (req.headers["x-consul-token"] as string | undefined) ?? url.searchParams.get("token") ?? "";
      if (tok !== this.aclToken) throw new HttpError(403, "ACL not found");
    }
    const need = (m: string) => {
      if (method !== m) throw new HttpError(405, `method ${method} not allowed`);
    };
    if (name === "health.service") {
      need("GET");
      this.seenTokens.push((req.headers["x-consul-token"] as string | undefined) ?? "");
      this.seenHealthQueries.push(url.search);
      if (this.seenTokens.length > 100) this.seenTokens.shift();
      if (this.seenHealthQueries.length > 100) this.seenHealthQueries.shift();
      const service = decodeURIComponent(path.slice("/v1/health/service/".length));
      this.healthCounts.set(service, (this.healthCounts.get(service) ?? 0) + 1);
      if (this.healthFault !== undefined) this.brokenHealthAnswer(res, this.healthFault, service);
      else this.healthService(res, url, service);
      return;
    }
    if (name === "status.leader") {
      need("GET");
      this.json(res, 200, `${this.nodeAddress}:8300`);
      return;
    }
    if (name === "agent.service.register") {
      need("PUT");
      this.register(body);
      this.json(res, 200, null);
      return;
    }
    if (name === "agent.service.deregister") {
      need("PUT");
      this.deregister(decodeURIComponent(path.slice("/v1/agent/service/deregister/".length)));
      this.json(res, 200, null);
      return;
    }
    if (name === "agent.check.update") {
      need("PUT");
      const m = /^\/v1\/agent\/check\/(pass|warn|fail)\/(.+)$/.exec(path) as RegExpExecArray;
      const status: Status = m[1] === "pass" ? "passing" : m[1] === "warn" ? "warning" : "critical";
      this.updateTtl(decodeURIComponent(m[2]), status, url.searchParams.get("note") ?? "");
      this.json(res, 200, null);
      return;
    }
    throw new HttpError(404, `404 page not found`);
  }

  private json(
    res: http.ServerResponse,
    status: number,
    value: unknown,
    headers: Record<string, string> = {},
  ): void {
    const text = value === null ? "" : JSON.stringify(value);
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(text);
  }

  // ---- agent endpoints ----

  private bump(): number {
    this.version++;
    this.index += 1;
    return this.index;
  }

  private touchService(name: string): number {
    const idx = this.bump();
    this.serviceIndex.set(name, idx);
    return idx;
  }

  private register(body: string): void {
    let def: Record<string, unknown>;
    try {
      def = JSON.parse(body);
    } catch (err) {
      throw new HttpError(400, `Request decode failed: ${(err as Error).message}`);
    }
    if (def === null || typeof def !== "object" || Array.isArray(def)) {
      throw new HttpError(400, "Request decode failed: body must be a JSON object");
    }
    const name = def.Name;
    if (typeof name !== "string" || name === "") throw new HttpError(400, "Missing service name");
    const id = typeof def.ID === "string" && def.ID !== "" ? def.ID : name;
    const tags = def.Tags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) {
      throw new HttpError(400, "Request decode failed: Tags must be an array of strings");
    }
    const port = def.Port ?? 0;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new HttpError(400, "Request decode failed: Port must be an integer 0..65535");
    }
    const address = def.Address ?? "";
    if (typeof address !== "string")
      throw new HttpError(400, "Request decode failed: Address must be a string");
    const meta = def.Meta ?? {};
    if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
      throw new HttpError(400, "Request decode failed: Meta must be an object of strings");
    }
    const w = (def.Weights ?? { Passing: 1, Warning: 1 }) as { Passing?: unknown; Warning?: unknown };
    const weights = {
      Passing: typeof w.Passing === "number" ? w.Passing : 1,
      Warning: typeof w.Warning === "number" ? w.Warning : 1,
    };
    if (weights.Passing < 1 || !Number.isInteger(weights.Passing)) {
      throw new HttpError(400, `Invalid Weights.Passing: must be an integer >= 1`);
    }
    const rawChecks: unknown[] = [];
    if (def.Check !== undefined && def.Check !== null) rawChecks.push(def.Check);
    if (Array.isArray(def.Checks)) rawChecks.push(...def.Checks);
    const prev = this.services.get(id);
    if (prev !== undefined && prev.Service !== name) {
      // Same ID, new name: the old service goes away from its name's view.
      this.removeService(prev);
    }
    const idx = this.touchService(name);
    const svc: ServiceState = {
      ID: id,
      Service: name,
      Tags: tags as string[],
      Address: address,
      Port: port,
      Meta: meta as Record<string, string>,
      Weights: weights,
      CreateIndex: prev?.CreateIndex ?? idx,
      ModifyIndex: idx,
      checks: [],
    };
    rawChecks.forEach((raw, n) => {
      svc.checks.push(this.makeCheck(raw, svc, rawChecks.length > 1 ? n + 1 : 0, prev, idx));
    });
    if (prev !== undefined) for (const c of prev.checks) this.disarm(c);
    this.services.set(id, svc);
    this.byName.clear();
    for (const c of svc.checks) this.armCheck(c, true);
    this.wake();
  }

  private makeCheck(
    raw: unknown,
    svc: ServiceState,
    n: number,
    prev: ServiceState | undefined,
    idx: number,
  ): CheckState {
    if (raw === null || typeof raw !== "object") throw new HttpError(400, "Invalid check: must be an object");
    const c = raw as Record<string, unknown>;
    const id =
      typeof c.CheckID === "string" && c.CheckID !== ""
        ? c.CheckID
        : n === 0
          ? `service:${svc.ID}`
          : `service:${svc.ID}:${n}`;
    let status: Status = "critical";
    if (c.Status !== undefined && c.Status !== "") {
      if (typeof c.Status !== "string" || !STATUSES.includes(c.Status)) {
        throw new HttpError(400, `Invalid check: Status must be one of passing, warning, critical`);
      }
      status = c.Status as Status;
    } else {
      const old = prev?.checks.find((x) => x.CheckID === id);
      if (old !== undefined) status = old.Status;
    }
    const check: CheckState = {
      CheckID: id,
      Name: typeof c.Name === "string" && c.Name !== "" ? c.Name : `Service '${svc.Service}' check`,
      Status: status,
      Notes: typeof c.Notes === "string" ? c.Notes : "",
      Output: "",
      ServiceID: svc.ID,
      ServiceName: svc.Service,
      Type: "ttl",
      CreateIndex: idx,
      ModifyIndex: idx,
      rev: ++this.revs,
    };
    if (typeof c.HTTP === "string" && c.HTTP !== "") {
      const interval = typeof c.Interval === "string" ? parseGoDuration(c.Interval) : undefined;
      if (interval === undefined || interval <= 0) {
        throw new HttpError(
          400,
          "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks",
        );
      }
      let timeout = 10_000;
      if (c.Timeout !== undefined) {
        const t = typeof c.Timeout === "string" ? parseGoDuration(c.Timeout) : undefined;
        if (t === undefined) throw new HttpError(400, "Invalid check: Timeout must be a duration");
        if (t > 0) timeout = t;
      }
      try {
        new URL(c.HTTP);
      } catch {
        throw new HttpError(400, `Invalid check: HTTP must be a URL, got ${JSON.stringify(c.HTTP)}`);
      }
      check.Type = "http";
      check.httpUrl = c.HTTP;
      check.intervalMs = Math.max(interval, 10);
      check.timeoutMs = timeout;
    } else if (typeof c.TTL === "string" && c.TTL !== "") {
      const ttl = parseGoDuration(c.TTL);
      if (ttl === undefined || ttl <= 0)
        throw new HttpError(400, "Invalid check: TTL must be > 0 for TTL checks");
      check.ttlMs = ttl;
    } else {
      throw new HttpError(400, "Invalid check: TTL or HTTP with Interval is required");
    }
    return check;
  }

  private disarm(c: CheckState): void {
    if (c.timer !== undefined) clearTimeout(c.timer);
    if (c.syncTimer !== undefined) clearTimeout(c.syncTimer);
    c.timer = undefined;
    c.syncTimer = undefined;
  }

  private armCheck(c: CheckState, first: boolean): void {
    if (!this.running) return;
    if (c.timer !== undefined) clearTimeout(c.timer);
    c.timer = undefined;
    if (c.Type === "ttl" && c.ttlMs !== undefined) {
      c.timer = setTimeout(() => {
        c.timer = undefined;
        this.setCheck(c, "critical", `TTL expired (last output before timeout follows): ${c.Output}`);
      }, c.ttlMs);
      c.timer.unref();
    } else if (c.Type === "http" && c.intervalMs !== undefined) {
      // Like Consul, the first run is staggered randomly within one interval.
      const delay = first ? Math.floor(this.random() * c.intervalMs) : c.intervalMs;
      c.timer = setTimeout(() => this.probe(c), delay);
      c.timer.unref();
    }
  }

  private probe(c: CheckState): void {
    c.timer = undefined;
    const url = c.httpUrl as string;
    let done = false;
    const finish = (status: Status, output: string) => {
      if (done) return;
      done = true;
      if (!this.running || !this.isLive(c)) return;
      this.setCheck(c, status, output);
      this.armCheck(c, false);
    };
    const req = http.get(url, { agent: false, headers: { "User-Agent": "Consul Health Check" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        if (text.length < 4096) text += d;
      });
      res.on("end", () => {
        const code = res.statusCode ?? 0;
        const status: Status = code >= 200 && code < 300 ? "passing" : code === 429 ? "warning" : "critical";
        finish(status, `HTTP GET ${url}: ${code} ${res.statusMessage ?? ""} Output: ${text}`);
      });
      res.on("error", (err) => finish("critical", `Get "${url}": ${err.message}`));
    });
    req.setTimeout(c.timeoutMs ?? 10_000, () => {
      req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`));
    });
    req.on("error", (err) => finish("critical", `Get "${url}": ${err.message}`));
  }

  private isLive(c: CheckState): boolean {
    const svc = this.services.get(c.ServiceID);
    return svc?.checks.includes(c) === true;
  }

  private setCheck(c: CheckState, status: Status, output: string): void {
    if (c.Status === status) {
      if (c.Output === output && c.pendingOutput === undefined) return;
      // Output-only change: Consul defers it by check_update_interval to spare Raft writes.
      c.pendingOutput = output;
      if (c.syncTimer === undefined) {
        c.syncTimer = setTimeout(() => {
          c.syncTimer = undefined;
          if (c.pendingOutput === undefined || !this.isLive(c)) return;
          c.Output = c.pendingOutput;
          c.rev = ++this.revs;
          c.pendingOutput = undefined;
          c.ModifyIndex = this.touchService(c.ServiceName);
          this.wake();
        }, this.checkUpdateIntervalMs);
        c.syncTimer.unref();
      }
      return;
    }
    if (c.syncTimer !== undefined) clearTimeout(c.syncTimer);
    c.syncTimer = undefined;
    c.pendingOutput = undefined;
    c.Status = status;
    this.lastStatusChangeAt = performance.now();
    c.Output = output;
    c.rev = ++this.revs;
    c.ModifyIndex = this.touchService(c.ServiceName);
    this.wake();
  }

  private updateTtl(checkId: string, status: Status, note: string): void {
    let found: CheckState | undefined;
    for (const svc of this.services.values()) {
      for (const c of svc.checks) if (c.CheckID === checkId) found = c;
    }
    if (found === undefined) {
      throw new HttpError(
        404,
        `Unknown check ID "${checkId}". Ensure that the check ID is passed, not the check name.`,
      );
    }
    if (found.Type !== "ttl") throw new HttpError(500, `CheckID "${checkId}" does not have associated TTL`);
    this.setCheck(found, status, note);
    this.armCheck(found, false);
  }

  private removeService(svc: ServiceState): void {
    for (const c of svc.checks) this.disarm(c);
    this.services.delete(svc.ID);
    this.byName.clear();
    const idx = this.bump();
    this.lastDeregIndex = idx;
    let others = false;
    for (const s of this.services.values()) if (s.Service === svc.Service) others = true;
    if (others) this.serviceIndex.set(svc.Service, idx);
    else this.serviceIndex.delete(svc.Service);
  }

  private deregister(id: string): void {
    const svc = this.services.get(id);
    if (svc === undefined)
      throw new HttpError(
        404,
        `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`,
      );
    this.removeService(svc);
    this.wake();
  }

  // ---- /v1/health/service ----

  private brokenHealthAnswer(res: http.ServerResponse, fault: HealthFault, service: string): void {
    if (fault === "hang") return; // held until the client gives up (or stop())
    const index = String(this.queryIndex(service));
    if (fault === "garbage") {
      res.writeHead(200, { "Content-Type": "application/json", "X-Consul-Index": index });
      res.end('<html><body>502 Bad Gateway</body></html> {"Node":');
      return;
    }
    const body = '[{"Node":{"ID":"n1","Node":"double-node","Address":"127.0.0.1"},"Service":{"ID":"cut"';
    res.writeHead(200, {
      "Content-Type": "application/json",
      "X-Consul-Index": index,
      "Content-Length": String(body.length * 4),
    });
    res.write(body, () => res.socket?.destroy());
  }

  private queryIndex(service: string): number {
    const idx = this.serviceIndex.get(service) ?? this.lastDeregIndex;
    return idx === 0 ? 1 : idx;
  }

  private wake(): void {
    for (const w of [...this.waiters]) {
      if (this.queryIndex(w.service) > w.minIndex) w.fire();
    }
  }

  private healthService(res: http.ServerResponse, url: URL, service: string): void {
    const q = url.searchParams;
    let waitMs = this.defaultQueryTimeMs;
    const waitText = q.get("wait");
    if (waitText !== null && waitText !== "") {
      const w = parseGoDuration(waitText);
      if (w === undefined) throw new HttpError(400, "Invalid wait time");
      waitMs = w > this.maxQueryTimeMs ? this.maxQueryTimeMs : w <= 0 ? this.defaultQueryTimeMs : w;
    }
    let minIndex = 0;
    const indexText = q.get("index");
    if (indexText !== null && indexText !== "") {
      if (!/^[0-9]+$/.test(indexText) || BigInt(indexText) > 18446744073709551615n) {
        throw new HttpError(400, "Invalid index");
      }
      minIndex = Number(indexText);
    }
    let passing = false;
    if (q.has("passing")) {
      const v = q.get("passing") as string;
      const b = v === "" ? true : parseGoBool(v);
      if (b === undefined) throw new HttpError(400, "Invalid value for ?passing");
      passing = b;
    }
    if (q.has("stale") && q.has("consistent")) {
      throw new HttpError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    }
    const consistency = q.has("stale") ? "stale" : q.has("consistent") ? "consistent" : "leader";
    const dc = q.get("dc");
    if (dc !== null && dc !== "" && dc !== this.datacenter) throw new HttpError(500, "No path to datacenter");
    const tags = q.getAll("tag").map((t) => t.toLowerCase());
    let predicate: ((e: HealthEntryLike) => boolean) | undefined;
    const filterText = q.get("filter");
    if (filterText !== null && filterText !== "") {
      try {
        predicate = compileFilter(filterText);
      } catch (err) {
        if (err instanceof FilterError) {
          throw new HttpError(400, `Failed to create boolean expression evaluator: ${err.message}`);
        }
        throw err;
      }
    }
    const queryKey = passing ? undefined : `${service}\0${tags.join("\0")}\0${filterText ?? ""}`;
    const answer = () => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(200, {
        "Content-Type": "application/json",
        "X-Consul-Index": String(this.queryIndex(service)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": consistency,
      });
      res.end(this.answerBody(service, tags, predicate, passing, queryKey));
      this.lastHealthAnswerAt = performance.now();
    };
    if (minIndex === 0 || this.queryIndex(service) > minIndex) {
      answer();
      return;
    }
    const jitter = Math.floor(this.random() * (waitMs / 16));
    const waiter: Waiter = {
      service,
      minIndex,
      timer: setTimeout(() => waiter.fire(), waitMs + jitter),
      fire: () => {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        answer();
      },
    };
    this.waiters.add(waiter);
    res.on("close", () => {
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
    });
  }

  /**
   * JSON.stringify of the matching entries, as bytes. Reused while the state is unchanged;
   * after a change it is assembled from runs of the query's last answer (the entries that are
   * the same objects, so the same bytes) and the changed entries' encodings: a few copies of
   * large ranges instead of one per entry.
   */
  private answerBody(
    service: string,
    tags: readonly string[],
    predicate: ((e: HealthEntryLike) => boolean) | undefined,
    passing: boolean,
    queryKey: string | undefined,
  ): Buffer {
    const last = queryKey === undefined ? undefined : this.encoded.get(queryKey);
    if (last !== undefined && last.version === this.version) return last.body;
    let entries = this.entries(service).filter(
      (e) => tags.every((t) => e.Service.Tags.some((x) => x.toLowerCase() === t)) && (predicate?.(e) ?? true),
    );
    if (passing) {
      entries = entries.filter((e) => e.Checks.every((c) => c.Status === "passing"));
      // Consul does not preserve order here; a seeded shuffle keeps consumers honest.
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [entries[i], entries[j]] = [entries[j], entries[i]];
      }
    }
    const encoded = encodeAnswer(entries, last, (e) => this.bytesOf(e));
    if (queryKey !== undefined) {
      // Bounded: tests use a handful of queries; a dropped one is rebuilt when asked again.
      if (this.encoded.size >= 64 && last === undefined) this.encoded.clear();
      this.encoded.set(queryKey, { version: this.version, ...encoded });
    }
    return encoded.body;
  }

  private bytesOf(e: HealthEntryLike): Buffer {
    let b = this.entryBytes.get(e);
    if (b === undefined) {
      b = Buffer.from(JSON.stringify(e));
      this.entryBytes.set(e, b);
    }
    return b;
  }

  private entries(service: string): HealthEntryLike[] {
    const out: HealthEntryLike[] = [];
    let ids = this.byName.get(service);
    if (ids === undefined) {
      ids = [...this.services.values()]
        .filter((s) => s.Service === service)
        .sort((a, b) => (a.ID < b.ID ? -1 : 1));
      this.byName.set(service, ids);
    }
    for (const s of ids) {
      // What changes after registration is checks' and serfHealth's status, output and modify
      // index, each change with a new rev (a registration makes a new ServiceState).
      // Every change of a check or serfHealth takes a new, higher rev: the highest names them all.
      let stamp = this.serf.rev;
      for (const c of s.checks) if (c.rev > stamp) stamp = c.rev;
      const hit = this.built.get(s);
      if (hit?.stamp === stamp) {
        out.push(hit.entry);
        continue;
      }
      const entry = {
        Node: {
          ID: "0e7b1c3a-5a1f-4a3e-8d2c-000000000001",
          Node: this.nodeName,
          Address: this.nodeAddress,
          Datacenter: this.datacenter,
          TaggedAddresses: { lan: this.nodeAddress, wan: this.nodeAddress },
          Meta: { "consul-network-segment": "" },
          CreateIndex: 10,
          ModifyIndex: 10,
        },
        Service: {
          ID: s.ID,
          Service: s.Service,
          Tags: [...s.Tags],
          Address: s.Address,
          TaggedAddresses: {},
          Meta: { ...s.Meta },
          Port: s.Port,
          Weights: { ...s.Weights },
          EnableTagOverride: false,
          CreateIndex: s.CreateIndex,
          ModifyIndex: s.ModifyIndex,
        },
        Checks: [this.serf, ...s.checks].map((c) => ({
          Node: this.nodeName,
          CheckID: c.CheckID,
          Name: c.Name,
          Status: c.Status,
          Notes: c.Notes,
          Output: c.Output,
          ServiceID: c.ServiceID,
          ServiceName: c.ServiceName,
          ServiceTags: c.ServiceID === "" ? [] : [...s.Tags],
          Type: c.CheckID === "serfHealth" ? "" : c.Type,
          CreateIndex: c.CreateIndex,
          ModifyIndex: c.ModifyIndex,
        })),
      } as HealthEntryLike;
      this.built.set(s, { stamp, entry });
      out.push(entry);
    }
    return out;
  }
}

function endpointName(path: string): string {
  if (path.startsWith("/v1/health/service/") && path.length > "/v1/health/service/".length)
    return "health.service";
  if (path === "/v1/status/leader") return "status.leader";
  if (path === "/v1/agent/service/register") return "agent.service.register";
  if (
    path.startsWith("/v1/agent/service/deregister/") &&
    path.length > "/v1/agent/service/deregister/".length
  ) {
    return "agent.service.deregister";
  }
  if (/^\/v1\/agent\/check\/(pass|warn|fail)\/.+$/.test(path)) return "agent.check.update";
  return "unknown";
}
