// Watches the EndpointSlices of one Kubernetes Service with list + watch and keeps a reconciled
// member view, emitting `update` after every change, as the Consul watcher does.
//
// Why not the client's informer (makeInformer/ListWatch): on any error other than 410 it stops
// for good, it re-lists with no rate limit, it never asks for bookmarks, and its watch has no
// idle deadline, so a connection that goes silent hangs it forever. Here every request takes a
// token from a token bucket, errors back off exponentially with seeded jitter, a watch resumes
// from the last resourceVersion seen (bookmarks keep it fresh), 410 Gone re-lists and replaces
// the whole view, and a watch silent for longer than its own timeout is abandoned.
// resourceVersions are opaque: stored and sent back, never compared.

import { existsSync } from "node:fs";
import type { LookupFunction } from "node:net";
import type { DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node";
import { errorWithCode } from "../config/coded-error.js";
import type { PoolKubernetesDiscovery } from "../config/file/schema.js";
import { quoteForLog } from "../config/log-quote.js";
import type { LogSink } from "../config/log-sink.js";
import { backoffDelay } from "./backoff.js";
import { type DiscoveredMember, diffMembers, isEmptyDiff, type MemberDiff } from "./consul-members.js";
import { kubernetesClient } from "./kubernetes-client.js";
import { capAnswerBytes, LIST_ANSWER_MAX, ListAnswerTooLarge } from "./kubernetes-list-cap.js";
import { type EndpointSliceLike, parseEndpointSlices } from "./kubernetes-members.js";
import { type WatchArgs, watchBounded } from "./kubernetes-watch-stream.js";
import type { TokenBucket } from "./token-bucket.js";
import { logWarnings } from "./warning-summary.js";
import { knob, pacing, WatcherError, WatchLoop, type WatchLoopOptions } from "./watch-loop.js";

/**
 * The pool's `discovery.kubernetes` section as the config schema produced it (service,
 * namespace, port, kubeconfig), plus pacing knobs the config does not have.
 */
export interface KubernetesWatcherOptions extends WatchLoopOptions, PoolKubernetesDiscovery {
  /** Requests per second (default 2). */
  rateLimit?: number;
  /** A loaded config (tests, embedding); wins over `kubeconfig`. */
  kubeConfig?: KubeConfig;
  /** Server-side watch timeout in seconds (default 240). */
  watchTimeoutSec?: number;
  /** A watch silent this long past its timeout is dropped as hung (default 30000 ms). */
  idleGraceMs?: number;
  /** A list that has not answered after this many ms is aborted (default 30000). */
  listTimeoutMs?: number;
  /** Slices per list request (default LIST_PAGE). */
  listPageSize?: number;
  /** Bytes of one list page's answer at most (default LIST_ANSWER_MAX; tests lower it). */
  listAnswerMax?: number;
}

export interface KubernetesWatcherStatus {
  readonly service: string;
  readonly namespace: string;
  readonly running: boolean;
  /** True once one list has been applied. */
  readonly synced: boolean;
  /** The resourceVersion the next watch resumes from ("" = the next request is a list). */
  readonly resourceVersion: string;
  readonly slices: number;
  readonly members: number;
  readonly healthyMembers: number;
  readonly drainingMembers: number;
  readonly lastSuccessAt: number | undefined;
  readonly lastError: string | undefined;
  readonly lastErrorAt: number | undefined;
  readonly consecutiveErrors: number;
  /** Lists and watches sent so far. */
  readonly requests: number;
  readonly lists: number;
  readonly watches: number;
  /** Watches answered with 410 Gone (each followed by a re-list). */
  readonly gone: number;
  readonly bookmarks: number;
  /** List pages read (a list of more than LIST_PAGE slices takes several, through continue tokens). */
  readonly listPages: number;
  /** Lists started over because their continue token expired (410) between two pages. */
  readonly expiredContinues: number;
  /** Watches dropped for silence. */
  readonly idleAborts: number;
  /** Slices received for another Service or namespace (ignored; see isForeign). */
  readonly foreignSlices: number;
}

export interface KubernetesMembershipUpdate {
  readonly service: string;
  readonly resourceVersion: string;
  readonly members: readonly DiscoveredMember[];
  readonly diff: MemberDiff;
}

export interface KubernetesWatcherEvents {
  update: [update: KubernetesMembershipUpdate];
}

/** Slices per list request (100 endpoints each by default: 50,000 endpoints a page at most). */
export const LIST_PAGE = 500;

type WatchEnd = { kind: "end" } | { kind: "gone" } | { kind: "error"; err: unknown };

/** The most characters of an ERROR event's Status message kept (Consul's error text: the same). */
const STATUS_MESSAGE_MAX = 200;

/**
 * An ERROR event's Status as one line. The message is the server's text, kept as the last error
 * (/admin/discovery, `ctl discovery`) and logged: quoted and cut, so a megabyte of it, a control
 * character or a code that is no number goes no further than this.
 */
function statusText(code: unknown, message: unknown): string {
  const c = typeof code === "number" ? String(code) : quoteForLog(fieldText(code), 16);
  return `${c} ${quoteForLog(message === undefined || message === null ? "" : fieldText(message), STATUS_MESSAGE_MAX)}`;
}

/**
 * A Status field as text: a string as it is, anything else as its JSON. String() of an object
 * the event's JSON made (`{"toString":1}`) throws, and the watch's last error became "Cannot
 * convert object to primitive value", which names neither the event nor what it said.
 */
function fieldText(v: unknown): string {
  return typeof v === "string" ? v : (JSON.stringify(v) ?? String(v));
}

/** A watch failure as one line: the API's HTTP status when it answered, else the error and its code. */
function watchErrorText(err: unknown): string {
  const status = err instanceof Error ? httpStatus(err) : undefined;
  if (status !== undefined) return `HTTP ${String(status)}: ${(err as Error).message.split("\n")[0]}`;
  return errorWithCode(err, true);
}

function httpStatus(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  if (e === null || typeof e !== "object") return undefined;
  if (typeof e.statusCode === "number") return e.statusCode;
  return typeof e.code === "number" ? e.code : undefined;
}

type ClientModule = typeof import("@kubernetes/client-node");

/** What the loop talks through, built on its first request. */
interface Client {
  readonly api: DiscoveryV1Api;
  /** One watch, each line bounded (not the client's Watch: its readline holds a line without end). */
  readonly watch: (...a: WatchArgs) => Promise<AbortController>;
  readonly Observable: ClientModule["Observable"];
  /** The HTTP agent the latest watch request was given (the client makes one per watch). */
  watchAgent: { destroy(): void } | undefined;
}

/**
 * The config the Watch is built on: `kc` itself, except that each watch's fetch options are
 * handed to `seen` on their way, so the loop holds the agent of the watch in flight. The
 * client's Watch returns its abort handle only once the answer's headers are in: a watch the
 * server never answers cannot be aborted, only its agent (its socket) destroyed.
 */
function agentNotingConfig(
  kc: KubeConfig,
  seen: (agent: { destroy(): void } | undefined) => void,
): KubeConfig {
  const noting = Object.create(kc) as KubeConfig;
  noting.applyToFetchOptions = async (opts) => {
    const o = await kc.applyToFetchOptions(opts);
    seen(o.agent as { destroy(): void } | undefined);
    return o;
  };
  return noting;
}

/**
 * Makes every agent `kc` creates (one per API call, one per watch) resolve the API server's
 * hostname through `lookup`. The client has no option for it; createAgent (private in its
 * types) is where both its fetch paths get their agent, with the cluster's TLS options.
 * With `proxy-url` in the kubeconfig the agent is a proxy agent, whose connection to the
 * proxy does not take the agent's `lookup`: hpagent (http/https proxies) opens it with
 * http.request(proxyRequestOptions), socks-proxy-agent with net.connect(socketOptions). Both
 * get the lookup too; before, the proxy's name went to getaddrinfo (a hung DNS held a libuv
 * thread per attempt, test/outside/dns-kube-proxy.test.ts). Through an HTTP proxy the API
 * server's own name is the proxy's to resolve (CONNECT host:port); through socks5:// or
 * socks4:// it is resolved here with `lookup`, through socks5h:// by the proxy.
 */
function withLookup(kc: KubeConfig, lookup: LookupFunction | undefined): KubeConfig {
  if (lookup === undefined) return kc;
  type CreateAgent = (cluster: { proxyUrl?: string } | null, agentOptions: object) => unknown;
  const target = kc as unknown as { createAgent: CreateAgent };
  const create = target.createAgent.bind(kc);
  target.createAgent = (cluster, agentOptions) =>
    create(
      cluster,
      cluster?.proxyUrl
        ? { ...agentOptions, lookup, proxyRequestOptions: { lookup }, socketOptions: { lookup } }
        : { ...agentOptions, lookup },
    );
  return kc;
}

/** The checks that need no client: a config error is thrown at construction, not found in a loop. */
function checkSource(opts: KubernetesWatcherOptions): void {
  if (opts.kubeConfig !== undefined) return;
  if (opts.kubeconfig !== undefined) {
    if (!existsSync(opts.kubeconfig))
      throw new WatcherError(
        "HEALTH_KUBECONFIG_MISSING",
        `kubernetes watcher: kubeconfig ${opts.kubeconfig} does not exist`,
      );
    return;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST) {
    throw new WatcherError(
      "HEALTH_NOT_IN_CLUSTER",
      "kubernetes watcher: not running in a pod (KUBERNETES_SERVICE_HOST unset): set discovery.kubernetes.kubeconfig",
    );
  }
}

function loadConfig(k8s: ClientModule, opts: KubernetesWatcherOptions): KubeConfig {
  if (opts.kubeConfig !== undefined) return opts.kubeConfig;
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig !== undefined) {
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (err) {
      throw new WatcherError(
        "HEALTH_KUBECONFIG_INVALID",
        `kubernetes watcher: cannot load kubeconfig ${opts.kubeconfig}: ${watchErrorText(err)}`,
      );
    }
    if (kc.getCurrentCluster() === null) {
      throw new WatcherError(
        "HEALTH_KUBECONFIG_INVALID",
        `kubernetes watcher: kubeconfig ${opts.kubeconfig} has no current context with a cluster`,
      );
    }
    return kc;
  }
  // The client re-reads the projected service-account token every minute (it rotates hourly).
  kc.loadFromCluster();
  return kc;
}

export class KubernetesWatcher extends WatchLoop<KubernetesWatcherEvents> {
  readonly service: string;
  readonly namespace: string;
  private readonly port: string | number;
  private readonly path: string;
  private readonly selector: string;
  private readonly opts: KubernetesWatcherOptions;
  private client: Client | undefined;
  private readonly watchTimeoutSec: number;
  private readonly idleGraceMs: number;
  private readonly listTimeoutMs: number;
  private readonly listPageSize: number;
  private readonly listAnswerMax: number;
  private readonly bucket: TokenBucket;
  private readonly random: () => number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly log: LogSink;
  private readonly wall: () => number;
  private slices = new Map<string, EndpointSliceLike>();
  private view: ReadonlyMap<string, DiscoveredMember> = new Map();
  /** undefined = list next (start, or after 410). */
  private rv: string | undefined;
  /** Ends the watch in flight (stop() calls it). */
  private cancelWatch: (() => void) | undefined;
  private listAbort: AbortController | undefined;
  private lastSuccessAt: number | undefined;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private consecutiveErrors = 0;
  private counts = {
    requests: 0,
    lists: 0,
    listPages: 0,
    expiredContinues: 0,
    watches: 0,
    gone: 0,
    bookmarks: 0,
    idleAborts: 0,
    foreignSlices: 0,
  };
  private warnedForeign = false;
  private lastWarnings = "";
  private readonly onRequestError: (() => void) | undefined;
  private readonly onResync: KubernetesWatcherOptions["onResync"];

  constructor(opts: KubernetesWatcherOptions) {
    super();
    this.service = opts.service;
    this.namespace = opts.namespace;
    this.port = opts.port;
    this.path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/endpointslices`;
    this.selector = `kubernetes.io/service-name=${opts.service}`;
    const what = "kubernetes watcher";
    this.watchTimeoutSec = Math.floor(knob(what, "watchTimeoutSec", opts.watchTimeoutSec, 240, 1));
    this.idleGraceMs = knob(what, "idleGraceMs", opts.idleGraceMs, 30_000, 1);
    this.listTimeoutMs = knob(what, "listTimeoutMs", opts.listTimeoutMs, 30_000, 1);
    this.listPageSize = Math.floor(knob(what, "listPageSize", opts.listPageSize, LIST_PAGE, 1));
    this.listAnswerMax = Math.floor(knob(what, "listAnswerMax", opts.listAnswerMax, LIST_ANSWER_MAX, 1));
    ({
      bucket: this.bucket,
      backoff: this.backoff,
      random: this.random,
      log: this.log,
      wall: this.wall,
    } = pacing(what, opts.rateLimit ?? 2, opts));
    checkSource(opts);
    this.opts = opts;
    this.onRequestError = opts.onRequestError;
    this.onResync = opts.onResync;
  }

  protected interrupt(): void {
    this.cancelWatch?.();
    this.listAbort?.abort();
  }

  /** The current member view, sorted by id. */
  members(): readonly DiscoveredMember[] {
    return [...this.view.values()];
  }

  status(): KubernetesWatcherStatus {
    let healthy = 0;
    let draining = 0;
    for (const m of this.view.values()) {
      if (m.healthy) healthy++;
      if (m.draining) draining++;
    }
    return {
      service: this.service,
      namespace: this.namespace,
      running: this.running,
      synced: this.synced,
      resourceVersion: this.rv ?? "",
      slices: this.slices.size,
      members: this.view.size,
      healthyMembers: healthy,
      drainingMembers: draining,
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      consecutiveErrors: this.consecutiveErrors,
      ...this.counts,
    };
  }

  protected async loop(): Promise<void> {
    while (this.running) {
      const wait = this.bucket.take();
      if (wait > 0) {
        await this.pause.sleep(wait);
        continue;
      }
      this.counts.requests++;
      if (this.rv === undefined) {
        try {
          await this.list();
        } catch (err) {
          if (!this.running) break;
          this.onError(err);
          await this.pause.sleep(backoffDelay(this.consecutiveErrors, this.backoff, this.random));
        }
        continue;
      }
      const end = await this.watchOnce(this.rv);
      if (!this.running) break;
      if (end.kind === "gone") {
        this.counts.gone++;
        this.onResync?.("gone");
        this.log.info(
          { service: this.service, resourceVersion: this.rv },
          "endpointslice watch expired (410 Gone); listing again",
        );
        this.rv = undefined;
      } else if (end.kind === "error") {
        this.onError(end.err);
        await this.pause.sleep(backoffDelay(this.consecutiveErrors, this.backoff, this.random));
      }
    }
  }

  /**
   * The client library is not loaded at import: it costs about a second of start-up and 60 MB
   * of memory, which an instance without Kubernetes pools never pays. The start path preloads
   * it when a pool uses Kubernetes (kubernetes-client.ts), so this await is then immediate.
   */
  private async connect(): Promise<Client> {
    if (this.client !== undefined) return this.client;
    const k8s = await kubernetesClient();
    const kc = withLookup(loadConfig(k8s, this.opts), this.opts.lookup);
    const noting = agentNotingConfig(kc, (agent) => {
      client.watchAgent = agent;
    });
    const client: Client = {
      api: kc.makeApiClient(k8s.DiscoveryV1Api),
      watch: (...a) => watchBounded(noting, ...a),
      Observable: k8s.Observable,
      watchAgent: undefined,
    };
    this.client = client;
    return client;
  }

  private async list(): Promise<void> {
    const abort = new AbortController();
    this.listAbort = abort;
    const timer = setTimeout(() => abort.abort(new Error("list timed out")), this.listTimeoutMs);
    this.counts.lists++;
    try {
      const { api, Observable } = await this.connect();
      // Paged (LIST_PAGE slices a request) so no answer is unbounded; every page is cut from
      // the first one's snapshot (the API server's consistent list), so together they are one
      // list at one resourceVersion. A continue token expired meanwhile (410) is not an
      // error: the list starts over, through the loop's token bucket.
      const slices = new Map<string, EndpointSliceLike>();
      let token: string | undefined;
      let rv: string | undefined;
      do {
        let page: Awaited<ReturnType<DiscoveryV1Api["listNamespacedEndpointSlice"]>>;
        let uncap: (() => void) | undefined;
        try {
          page = await api.listNamespacedEndpointSlice(
            {
              namespace: this.namespace,
              labelSelector: this.selector,
              limit: this.listPageSize,
              _continue: token,
            },
            {
              middleware: [
                {
                  // The only way 1.4 offers to abort a typed API call: set the request's signal.
                  pre: (ctx) => {
                    ctx.setSignal(abort.signal);
                    // Bounded answer (kubernetes-list-cap.ts): uncompressed, at most LIST_ANSWER_MAX.
                    ctx.setHeaderParam("Accept-Encoding", "identity");
                    const agent = ctx.getAgent();
                    if (agent !== undefined)
                      uncap = capAnswerBytes(agent, this.listAnswerMax, (e) => abort.abort(e));
                    return new Observable(Promise.resolve(ctx));
                  },
                  post: (ctx) => new Observable(Promise.resolve(ctx)),
                },
              ],
              middlewareMergeStrategy: "append",
            },
          );
        } catch (err) {
          if (abort.signal.reason instanceof ListAnswerTooLarge) throw abort.signal.reason;
          if (token === undefined || httpStatus(err) !== 410) throw err;
          this.counts.expiredContinues++;
          this.onResync?.("expired_continue");
          this.log.info(
            { service: this.service, pages: this.counts.listPages },
            "endpointslice list continue token expired (410); listing again from the start",
          );
          return;
        } finally {
          uncap?.();
        }
        if (!this.running) return;
        this.counts.listPages++;
        rv = page.metadata?.resourceVersion;
        for (const item of page.items ?? []) {
          const name = item.metadata?.name;
          if (typeof name !== "string" || name === "") continue;
          if (!this.isForeign(item as EndpointSliceLike)) slices.set(name, item as EndpointSliceLike);
        }
        const next = page.metadata?._continue;
        token = typeof next === "string" && next !== "" ? next : undefined;
      } while (token !== undefined);
      if (typeof rv !== "string" || rv === "")
        throw new TypeError("endpointslice list without a resourceVersion");
      // A list replaces the whole view: slices deleted while we were not watching must go.
      this.slices = slices;
      this.rv = rv;
      this.succeeded();
      this.recompute();
    } finally {
      clearTimeout(timer);
      this.listAbort = undefined;
    }
  }

  /** One watch from `rv` until the server ends it, it fails, it answers 410, or it goes silent. */
  private watchOnce(rv: string): Promise<WatchEnd> {
    this.counts.watches++;
    return new Promise<WatchEnd>((resolve) => {
      let settled = false;
      let controller: AbortController | undefined;
      let idle: NodeJS.Timeout | undefined;
      let gone = false;
      let failure: unknown;
      const idleMs = this.watchTimeoutSec * 1000 + this.idleGraceMs;
      const client = this.client as Client;
      client.watchAgent = undefined;
      const finish = (end: WatchEnd) => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        this.cancelWatch = undefined;
        if (controller !== undefined) controller.abort();
        // No headers yet (a server that accepted the request and never answered): there is no
        // abort handle, and the request would hold its socket for good, one more each time
        // the loop moved on. The watch's own agent is destroyed, and its socket with it.
        else client.watchAgent?.destroy();
        resolve(end);
      };
      const armIdle = () => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          this.counts.idleAborts++;
          finish({ kind: "error", err: new Error(`watch silent for ${idleMs} ms; dropped`) });
        }, idleMs);
      };
      this.cancelWatch = () => finish({ kind: "end" });
      armIdle();
      const onEvent = (type: string, object: unknown) => {
        if (settled) return;
        armIdle();
        this.onWatchEvent(type, object, (why) => {
          if (why === "gone") gone = true;
          else failure = why;
          finish(gone ? { kind: "gone" } : { kind: "error", err: failure });
        });
      };
      const done = (err: unknown) => {
        if (gone) finish({ kind: "gone" });
        else if (err !== null && err !== undefined) {
          finish(httpStatus(err) === 410 ? { kind: "gone" } : { kind: "error", err });
        } else finish({ kind: "end" });
      };
      client
        .watch(
          this.path,
          {
            labelSelector: this.selector,
            resourceVersion: rv,
            allowWatchBookmarks: true,
            timeoutSeconds: this.watchTimeoutSec,
          },
          onEvent,
          done,
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err) => done(err),
        );
    });
  }

  private onWatchEvent(type: string, object: unknown, fail: (why: "gone" | Error) => void): void {
    const o = (object ?? {}) as EndpointSliceLike & { code?: unknown; message?: unknown };
    if (type === "ERROR") {
      if (o.code === 410) fail("gone");
      else fail(new Error(`watch error event: ${statusText(o.code, o.message)}`));
      return;
    }
    const rv = o.metadata?.resourceVersion;
    const name = o.metadata?.name;
    if (typeof rv === "string" && rv !== "") this.rv = rv;
    this.succeeded();
    if (type === "BOOKMARK") {
      this.counts.bookmarks++;
      return;
    }
    if (typeof name !== "string" || name === "") return;
    if ((type === "ADDED" || type === "MODIFIED") && this.isForeign(o)) {
      // Taken as the slice leaving the selector (what the API server itself sends as DELETED).
      if (!this.slices.delete(name)) return;
    } else if (type === "ADDED" || type === "MODIFIED") this.slices.set(name, o);
    else if (type === "DELETED") this.slices.delete(name);
    else return;
    this.recompute();
  }

  /**
   * A slice that names another Service or namespace than the one watched. The API server
   * filters by the label selector itself, so this comes only from something in between (a
   * proxy, a broken aggregation layer): its endpoints must not become this pool's members.
   * Lenient where the fields are absent; strict where they disagree.
   */
  private isForeign(o: EndpointSliceLike): boolean {
    const ns = o.metadata?.namespace;
    const svc = o.metadata?.labels?.["kubernetes.io/service-name"];
    const foreign =
      (typeof ns === "string" && ns !== this.namespace) || (typeof svc === "string" && svc !== this.service);
    if (!foreign) return false;
    this.counts.foreignSlices++;
    if (!this.warnedForeign) {
      this.warnedForeign = true;
      this.log.warn(
        {
          service: this.service,
          namespace: this.namespace,
          slice: o.metadata?.name,
          sliceNamespace: ns,
          sliceService: svc,
        },
        "endpointslice of another service or namespace received; ignored",
      );
    }
    return true;
  }

  private succeeded(): void {
    if (this.consecutiveErrors > 0) {
      this.log.info(
        { service: this.service, after: this.consecutiveErrors },
        "endpointslice watch recovered",
      );
    }
    this.consecutiveErrors = 0;
    this.lastSuccessAt = this.wall();
  }

  private onError(err: unknown): void {
    this.consecutiveErrors++;
    this.onRequestError?.();
    this.lastError = watchErrorText(err);
    this.lastErrorAt = this.wall();
    const fields = {
      service: this.service,
      namespace: this.namespace,
      consecutiveErrors: this.consecutiveErrors,
      err: this.lastError,
    };
    if (this.consecutiveErrors === 1)
      this.log.warn(fields, "kubernetes endpointslice watch failed; keeping the last member view");
    else this.log.debug(fields, "kubernetes endpointslice watch still failing");
  }

  private recompute(): void {
    const parsed = parseEndpointSlices(this.slices.values(), this.port, this.view);
    const warnKey = parsed.warnings.join("\n");
    if (warnKey !== this.lastWarnings) {
      logWarnings(this.log, { service: this.service }, "EndpointSlice endpoints skipped", parsed.warnings);
      this.lastWarnings = warnKey;
    }
    const diff = diffMembers(this.view, parsed.members);
    this.view = parsed.members;
    const firstSync = this.markSynced();
    if (isEmptyDiff(diff) && !firstSync) return;
    this.emit("update", {
      service: this.service,
      resourceVersion: this.rv ?? "",
      members: [...this.view.values()],
      diff,
    });
    if (firstSync) this.resolveFirstSync();
  }
}
