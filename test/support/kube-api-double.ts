// A faithful in-process double of the part of the Kubernetes API server that shardgate uses:
// EndpointSlices (discovery.k8s.io/v1) listed and watched per namespace with a label selector.
// It keeps etcd-like semantics: one global resourceVersion that every write moves, a bounded
// event history that a watch replays from its resourceVersion, a 410 Gone ERROR event (then
// the end of the stream) once that version has been compacted away, bookmarks when asked for,
// and the server ending a watch after timeoutSeconds. It runs a real node:http server on
// 127.0.0.1 so `@kubernetes/client-node` talks to it as to an API server, and adds controls a
// real one does not have: stop()/start() on the same port, compaction on demand, broken,
// slow, silent and unanswered watches, forced list failures, and counters. Lists honour `limit` and
// `continue` as the API server does: each page comes from the snapshot the first page was cut
// from (a consistent list), and a token whose snapshot was compacted away answers 410 Expired.

import { writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

const PATH = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices\/?$/;
const API_VERSION = "discovery.k8s.io/v1";

export interface SliceEndpoint {
  pod: string;
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  /** Defaults to "uid-" + pod. */
  uid?: string;
  node?: string;
}

/** An EndpointSlice as the API serves it (only the fields shardgate and the client read). */
export interface EndpointSliceObject {
  apiVersion: string;
  kind: "EndpointSlice";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    resourceVersion: string;
    uid: string;
  };
  addressType: "IPv4";
  ports: { name: string; port: number; protocol: "TCP" }[];
  endpoints: {
    addresses: string[];
    conditions: { ready?: boolean; serving?: boolean; terminating?: boolean };
    targetRef: { kind: "Pod"; name: string; namespace: string; uid: string };
    nodeName?: string;
  }[];
}

/** A slice as a client writes it (no resourceVersion, no uid): what the double and a real cluster are given. */
export function endpointSliceBody(
  ns: string,
  name: string,
  service: string,
  endpoints: SliceEndpoint[],
  port: { name: string; port: number },
): Omit<EndpointSliceObject, "metadata"> & {
  metadata: Omit<EndpointSliceObject["metadata"], "resourceVersion" | "uid">;
} {
  return {
    apiVersion: API_VERSION,
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace: ns,
      labels: { "kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "double" },
    },
    addressType: "IPv4",
    ports: [{ name: port.name, port: port.port, protocol: "TCP" }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
      targetRef: { kind: "Pod", name: e.pod, namespace: ns, uid: e.uid ?? `uid-${e.pod}` },
      nodeName: e.node ?? "node-1",
    })),
  };
}

type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface HistoryEvent {
  rv: number;
  type: EventType;
  object: EndpointSliceObject;
}

interface Watcher {
  ns: string;
  selector: Map<string, string>;
  res: http.ServerResponse;
  bookmarks: boolean;
  lastSent: number;
  timer: NodeJS.Timeout | undefined;
  bookmarkTimer: NodeJS.Timeout | undefined;
}

export interface KubeApiDoubleOptions {
  /** Events kept for watches to resume from (default 1000); older versions answer 410. */
  historyLimit?: number;
  /** How often a watch that asked for bookmarks gets one (default 1000 ms; a real server: ~1 min). */
  bookmarkIntervalMs?: number;
  /** When set, every request needs `Authorization: Bearer TOKEN`, else 401. */
  token?: string;
}

function status(code: number, reason: string, message: string) {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

/** Equality-based selectors only ("a=b,c==d"), which is all an EndpointSlice watch uses. */
function parseSelector(raw: string | null): Map<string, string> | string {
  const out = new Map<string, string>();
  if (raw === null || raw === "") return out;
  for (const part of raw.split(",")) {
    const m = /^([^=!]+)==?([^=]*)$/.exec(part.trim());
    if (m === null) return `unable to parse requirement: ${JSON.stringify(part)}`;
    out.set(m[1].trim(), m[2].trim());
  }
  return out;
}

function matches(o: EndpointSliceObject, ns: string, sel: Map<string, string>): boolean {
  if (o.metadata.namespace !== ns) return false;
  for (const [k, v] of sel) if (o.metadata.labels[k] !== v) return false;
  return true;
}

export class KubeApiDouble {
  readonly host = "127.0.0.1";
  port = 0;
  readonly counts = {
    lists: 0,
    watches: 0,
    gone: 0,
    bookmarks: 0,
    unauthorized: 0,
    failedLists: 0,
    /** List requests that carried a continue token, and those answered 410 Expired. */
    continues: 0,
    expiredContinues: 0,
    /** The most slices one list answer carried. */
    maxListItems: 0,
  };
  /** Date.now() when the first list request arrived (compared with a child's pino `time`). */
  firstListAt: number | undefined;
  private expireContinues = 0;
  /** The snapshot behind each continue token handed out (bounded, oldest dropped first). */
  private readonly listSnapshots = new Map<string, { rv: number; rest: EndpointSliceObject[] }>();
  private tokenSeq = 0;
  /** Query strings of watch requests, newest last (bounded). */
  readonly watchQueries: URLSearchParams[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  private readonly slices = new Map<string, EndpointSliceObject>();
  private history: HistoryEvent[] = [];
  /** Versions at or below this are gone (compacted). */
  private compactedThrough = 0;
  private rv = 1000;
  private uidSeq = 0;
  private readonly historyLimit: number;
  private readonly bookmarkIntervalMs: number;
  private readonly token: string | undefined;
  private failLists = 0;
  /** Set: lists answer 200 and a body without end, recorded here (bytes sent, hung up on). */
  private endlessLists: Array<{ written: number; closed: boolean }> | null = null;
  /** Only lists of this service fail (unset: any list); other clients' lists are not consumed. */
  private failListsOf: string | undefined;
  private watchDelayMs = 0;
  private silentWatches = false;
  private unansweredWatches = false;
  private instantEnd = false;
  private running = false;

  private constructor(opts: KubeApiDoubleOptions) {
    this.historyLimit = opts.historyLimit ?? 1000;
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
    this.token = opts.token;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  static async create(opts: KubeApiDoubleOptions = {}): Promise<KubeApiDouble> {
    const d = new KubeApiDouble(opts);
    await d.start();
    return d;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** The current resourceVersion (what a list would return). */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Listens (again, on the same port after stop()). */
  async start(): Promise<void> {
    if (this.running) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.running = true;
  }

  /** The API server goes away: connections are cut, new ones refused. State is kept. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.endWatches(true);
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    await this.stop();
  }

  /** Writes a kubeconfig whose current context points at this double; returns its path. */
  writeKubeconfig(path: string, token = this.token ?? "t"): string {
    const cfg = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "double", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "double", user: { token } }],
      contexts: [{ name: "double", context: { cluster: "double", user: "double", namespace: "default" } }],
      "current-context": "double",
    };
    writeFileSync(path, JSON.stringify(cfg));
    return path;
  }

  // ---------------------------------------------------------------- state (what a controller does)

  /** Creates or replaces the slice `name` for `service`; returns its new resourceVersion. */
  putSlice(
    ns: string,
    name: string,
    service: string,
    endpoints: SliceEndpoint[],
    port = { name: "http", port: 8080 },
  ): string {
    const prev = this.slices.get(`${ns}/${name}`);
    this.rv++;
    const body = endpointSliceBody(ns, name, service, endpoints, port);
    const object: EndpointSliceObject = {
      ...body,
      metadata: {
        ...body.metadata,
        resourceVersion: String(this.rv),
        uid: prev?.metadata.uid ?? `slice-${++this.uidSeq}`,
      },
    };
    this.slices.set(`${ns}/${name}`, object);
    this.record(prev === undefined ? "ADDED" : "MODIFIED", object);
    return object.metadata.resourceVersion;
  }

  deleteSlice(ns: string, name: string): void {
    const prev = this.slices.get(`${ns}/${name}`);
    if (prev === undefined) throw new Error(`no slice ${ns}/${name}`);
    this.slices.delete(`${ns}/${name}`);
    this.rv++;
    this.record("DELETED", { ...prev, metadata: { ...prev.metadata, resourceVersion: String(this.rv) } });
  }

  /** Forgets every event so far: a watch resuming from any earlier version gets 410 Gone. */
  compact(): void {
    this.compactedThrough = this.rv;
    this.history = [];
  }

  /** The next `n` continued lists find their snapshot compacted (410 Expired): etcd compacting between two pages. */
  expireNextContinues(n: number): void {
    this.expireContinues = n;
  }

  // ---------------------------------------------------------------- faults

  /** Cuts every open watch mid-stream (no final newline, no clean end): a broken connection. */
  breakWatches(): void {
    this.endWatches(true);
  }

  /** Ends every open watch cleanly, as a server does at timeoutSeconds. */
  endWatchesCleanly(): void {
    this.endWatches(false);
  }

  /** Sends a 410 ERROR event on every open watch and compacts, as etcd does after a compaction. */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.watchers]) this.sendGone(w);
  }

  /**
   * The next `n` lists answer 500; with `service`, only lists selecting that service count, so a
   * late list from another test's client cannot use up the failures.
   */
  failNextLists(n: number, service?: string): void {
    this.failLists = n;
    this.failListsOf = service;
  }

  /** Watches answer headers (and every event) only after `ms`: a slow API server. */
  slowWatches(ms: number): void {
    this.watchDelayMs = ms;
  }

  /** New watches get their 200 and then nothing at all, ever: a silent, hung stream. */
  silenceWatches(on: boolean): void {
    this.silentWatches = on;
  }

  /** New watch requests are read and never answered, not even a status line: a hung API server or load balancer. */
  leaveWatchesUnanswered(on: boolean): void {
    this.unansweredWatches = on;
  }

  /** Sends `object` as a `type` event on every open watch, whatever its selector: a misbehaving server or proxy. */
  sendToWatches(type: EventType | "ERROR", object: unknown): void {
    for (const w of this.watchers) this.send(w, type, object);
  }

  /**
   * On one open watch, starts an event line and never ends it: `chunk` bytes at a time (as the
   * client reads them), until the client hangs up or `maxBytes` went out. Resolves with the
   * bytes written and whether the client hung up. The watch gets nothing else meanwhile.
   */
  sendEndlessLine(maxBytes: number, chunk = 64 * 1024): Promise<{ written: number; hungUp: boolean }> {
    const w = this.watchers.values().next().value;
    if (w === undefined) return Promise.reject(new Error("no open watch"));
    this.dropWatcher(w);
    const res = w.res;
    const filler = Buffer.alloc(chunk, "a");
    let written = 0;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (hungUp: boolean) => {
        if (settled) return;
        settled = true;
        resolve({ written, hungUp });
      };
      res.once("close", () => settle(true));
      const head = Buffer.from('{"type":"ADDED","object":{"metadata":{"name":"');
      const pump = () => {
        while (!settled && !res.destroyed && written < maxBytes) {
          const piece = written === 0 ? head : filler;
          written += piece.length;
          if (!res.write(piece)) {
            res.once("drain", pump);
            return;
          }
        }
        if (res.destroyed) settle(true);
        else if (written >= maxBytes) settle(false);
      };
      pump();
    });
  }

  /**
   * While on, every list answers 200 and then JSON that never ends, until the client hangs up
   * or 256 MiB went out (then it waits); each such answer's bytes sent and whether its
   * connection closed are kept in the returned array. Off: lists answer as before.
   */
  endlessListAnswers(on: boolean): Array<{ written: number; closed: boolean }> {
    const record = this.endlessLists ?? [];
    this.endlessLists = on ? record : null;
    return record;
  }

  private answerEndlessly(
    res: http.ServerResponse,
    record: Array<{ written: number; closed: boolean }>,
  ): void {
    const entry = { written: 0, closed: false };
    record.push(entry);
    const max = 256 * 1024 * 1024;
    const filler = Buffer.from(`${JSON.stringify({ metadata: { name: "x".repeat(65_000) } })},`);
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[');
    res.once("close", () => {
      entry.closed = true;
    });
    const pump = () => {
      while (!res.destroyed && entry.written < max) {
        entry.written += filler.length;
        if (!res.write(filler)) {
          res.once("drain", pump);
          return;
        }
      }
    };
    pump();
  }

  /** TCP connections open to the double right now (every client's). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** New watches end right after their headers: a server that answers at once, every time. */
  endWatchesAtOnce(on: boolean): void {
    this.instantEnd = on;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  // ---------------------------------------------------------------- HTTP

  private record(type: EventType, object: EndpointSliceObject): void {
    this.history.push({ rv: this.rv, type, object });
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedThrough = dropped[dropped.length - 1].rv;
    }
    if (this.silentWatches) return;
    for (const w of this.watchers) if (matches(object, w.ns, w.selector)) this.send(w, type, object);
  }

  private send(w: Watcher, type: string, object: unknown): void {
    const line = `${JSON.stringify({ type, object })}\n`;
    const write = () => {
      if (!w.res.writableEnded) w.res.write(line);
    };
    w.lastSent = this.rv;
    if (this.watchDelayMs > 0) setTimeout(write, this.watchDelayMs);
    else write();
  }

  private sendGone(w: Watcher): void {
    this.counts.gone++;
    const line = `${JSON.stringify({ type: "ERROR", object: status(410, "Expired", "too old resource version") })}\n`;
    this.dropWatcher(w);
    if (!w.res.writableEnded) w.res.end(line);
  }

  private dropWatcher(w: Watcher): void {
    clearTimeout(w.timer);
    clearInterval(w.bookmarkTimer);
    this.watchers.delete(w);
  }

  private endWatches(abrupt: boolean): void {
    for (const w of [...this.watchers]) {
      this.dropWatcher(w);
      if (abrupt) w.res.socket?.destroy();
      else w.res.end();
    }
  }

  private reply(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      this.counts.unauthorized++;
      this.reply(res, 401, status(401, "Unauthorized", "Unauthorized"));
      return;
    }
    const m = PATH.exec(url.pathname);
    if (req.method !== "GET" || m === null) {
      this.reply(res, 404, status(404, "NotFound", `the server could not find the requested resource`));
      return;
    }
    const ns = decodeURIComponent(m[1]);
    const selector = parseSelector(url.searchParams.get("labelSelector"));
    if (typeof selector === "string") {
      this.reply(res, 400, status(400, "BadRequest", selector));
      return;
    }
    const watch = url.searchParams.get("watch");
    if (watch === "true" || watch === "1") this.watch(ns, selector, url.searchParams, req, res);
    else this.list(ns, selector, res, url.searchParams);
  }

  private list(
    ns: string,
    selector: Map<string, string>,
    res: http.ServerResponse,
    q: URLSearchParams,
  ): void {
    this.counts.lists++;
    this.firstListAt ??= Date.now();
    const token = q.get("continue") ?? "";
    const limitText = q.get("limit") ?? "";
    const limit = /^[0-9]+$/.test(limitText) ? Number(limitText) : 0;
    const failing =
      this.failListsOf === undefined || selector.get("kubernetes.io/service-name") === this.failListsOf;
    if (this.endlessLists !== null) {
      this.answerEndlessly(res, this.endlessLists);
      return;
    }
    if (this.failLists > 0 && failing) {
      this.failLists--;
      this.counts.failedLists++;
      this.reply(res, 500, status(500, "InternalError", "etcdserver: request timed out"));
      return;
    }
    let items: EndpointSliceObject[];
    let rv = this.rv;
    if (token !== "") {
      this.counts.continues++;
      const snap = this.listSnapshots.get(token);
      this.listSnapshots.delete(token);
      // Compaction keeps the version it compacts at (as for watches): older snapshots are gone.
      let expired = snap === undefined || snap.rv < this.compactedThrough;
      if (this.expireContinues > 0) {
        this.expireContinues--;
        expired = true;
      }
      if (expired || snap === undefined) {
        this.counts.expiredContinues++;
        this.reply(
          res,
          410,
          status(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
          ),
        );
        return;
      }
      items = snap.rest;
      rv = snap.rv;
    } else {
      items = [...this.slices.values()]
        .filter((o) => matches(o, ns, selector))
        .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (limit > 0 && items.length > limit) {
      const next = `c${++this.tokenSeq}.${rv}`;
      this.listSnapshots.set(next, { rv, rest: items.slice(limit) });
      if (this.listSnapshots.size > 100)
        this.listSnapshots.delete(this.listSnapshots.keys().next().value as string);
      metadata.continue = next;
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    this.counts.maxListItems = Math.max(this.counts.maxListItems, items.length);
    this.reply(res, 200, { kind: "EndpointSliceList", apiVersion: API_VERSION, metadata, items });
  }

  private watch(
    ns: string,
    selector: Map<string, string>,
    q: URLSearchParams,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    this.counts.watches++;
    this.watchQueries.push(q);
    if (this.watchQueries.length > 200) this.watchQueries.shift();
    const rawRv = q.get("resourceVersion") ?? "";
    if (rawRv !== "" && !/^[0-9]+$/.test(rawRv)) {
      this.reply(res, 400, status(400, "BadRequest", `invalid resource version ${JSON.stringify(rawRv)}`));
      return;
    }
    const timeoutSec = Number(q.get("timeoutSeconds") ?? "1800");
    const w: Watcher = {
      ns,
      selector,
      res,
      bookmarks: q.get("allowWatchBookmarks") === "true",
      lastSent: this.rv,
      timer: undefined,
      bookmarkTimer: undefined,
    };
    const begin = () => {
      if (res.destroyed) return;
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      res.flushHeaders();
      if (this.silentWatches) return; // headers, then nothing: the stream hangs
      if (this.instantEnd) {
        res.end();
        return;
      }
      const from = rawRv === "" || rawRv === "0" ? undefined : Number(rawRv);
      if (from !== undefined && from < this.compactedThrough) {
        this.sendGone(w);
        return;
      }
      this.watchers.add(w);
      if (from === undefined) {
        // No version: the current state as synthetic ADDED events, then changes.
        for (const o of this.slices.values()) if (matches(o, ns, selector)) this.send(w, "ADDED", o);
      } else {
        for (const e of this.history) {
          if (e.rv > from && matches(e.object, ns, selector)) this.send(w, e.type, e.object);
        }
      }
      if (Number.isFinite(timeoutSec) && timeoutSec > 0) {
        w.timer = setTimeout(() => {
          this.dropWatcher(w);
          res.end();
        }, timeoutSec * 1000);
      }
      if (w.bookmarks) {
        w.bookmarkTimer = setInterval(() => {
          this.counts.bookmarks++;
          this.send(w, "BOOKMARK", {
            kind: "EndpointSlice",
            apiVersion: API_VERSION,
            metadata: { resourceVersion: String(this.rv) },
          });
        }, this.bookmarkIntervalMs);
      }
    };
    req.on("close", () => this.dropWatcher(w));
    if (this.unansweredWatches) return; // no status line, ever: the client holds its socket
    if (this.watchDelayMs > 0) setTimeout(begin, this.watchDelayMs);
    else begin();
  }
}
