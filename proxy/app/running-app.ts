// One running shardgate instance, as startApp hands it back: its bound addresses, reload and
// shutdown. Shutdown is idempotent and flips /readyz to 503 from its first moment.

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { formatHostPort } from "../../config/address.js";
import type { ClusterNode } from "../cluster/cluster-node.js";
import type { CommittedRouting } from "../cluster/committed-routing.js";
import type { DataPlane } from "../forward/types.js";
import type { ProcessLogger } from "../logging/logger.js";
import type { ConfigReloader, ReloadOutcome } from "./reload.js";
import { drainAndClose } from "./shutdown.js";

function boundAddress(a: AddressInfo): string {
  return formatHostPort(a.address, a.port);
}

export interface AppParts {
  log: ProcessLogger;
  reloader: ConfigReloader;
  routing: CommittedRouting;
  cluster: ClusterNode;
  dataPlane: DataPlane;
  proxyServer: Server;
  adminServer: Server;
  drainTimeoutMs: number;
  closeEdge?: () => Promise<void>;
  /** Runs once everything is closed (e.g. flushing the trace exporter). */
  afterStop?: () => Promise<void>;
  /** With `workers: N`: where the workers listen (the primary's proxyServer never does). */
  httpAddress?: string;
  /** With `workers: N`: drains every worker before the primary closes the admin API and Raft. */
  beforeStop?: (reason: string) => Promise<void>;
}

export class App {
  /** "host:port" the proxy listener is bound to. */
  readonly httpAddress: string;
  /** "host:port" the admin API is bound to. */
  readonly adminAddress: string;
  readonly routing: CommittedRouting;
  readonly cluster: ClusterNode;
  readonly dataPlane: DataPlane;
  private stopping: Promise<void> | undefined;

  /** @internal use startApp; `p.proxyServer` and `p.adminServer` must be listening. */
  constructor(private readonly p: AppParts) {
    this.httpAddress = p.httpAddress ?? boundAddress(p.proxyServer.address() as AddressInfo);
    this.adminAddress = boundAddress(p.adminServer.address() as AddressInfo);
    this.routing = p.routing;
    this.cluster = p.cluster;
    this.dataPlane = p.dataPlane;
  }

  get logger(): Logger {
    return this.p.log.logger;
  }

  /** Starts writing out buffered log lines, without blocking. */
  flushLogs(): void {
    this.p.log.flush();
  }

  /** Exit paths: waits for the buffered log lines to be written, at most `ms` (a stuck log cannot hold the exit). */
  flushLogsWithin(ms: number): Promise<void> {
    return this.p.log.flushWithin(ms);
  }

  /** How long a stop lets in-flight requests finish (--drain-timeout). */
  get drainTimeoutMs(): number {
    return this.p.drainTimeoutMs;
  }

  get shuttingDown(): boolean {
    return this.stopping !== undefined;
  }

  /** Re-reads the config file (see ConfigReloader); serialized with every other reload. */
  reload(trigger: string): Promise<ReloadOutcome> {
    return this.p.reloader.reload(trigger);
  }

  /**
   * Stops accepting connections, lets in-flight requests finish up to the drain deadline, then
   * closes everything. Idempotent: a second call returns the first call's promise.
   */
  shutdown(reason: string): Promise<void> {
    this.p.reloader.releaseBlockedRead();
    this.stopping ??= (this.p.beforeStop?.(reason) ?? Promise.resolve())
      .then(() =>
        drainAndClose(
          {
            logger: this.p.log.logger,
            dataPlane: this.p.dataPlane,
            proxyServer: this.p.proxyServer,
            adminServer: this.p.adminServer,
            cluster: this.p.cluster,
            drainTimeoutMs: this.p.drainTimeoutMs,
            flushLogs: () => this.p.log.flush(),
            closeEdge: this.p.closeEdge,
          },
          reason,
        ),
      )
      .then(() => this.p.afterStop?.().catch(() => undefined));
    return this.stopping;
  }
}
