// This instance's own descriptor limit, made visible. At the limit libuv closes each new
// client connection at once (it keeps a spare descriptor for that) and says nothing, and a dial
// to a member fails with EMFILE: without this an operator sees clients cut and 503s and no
// cause. A sampler reads the open descriptors and the soft RLIMIT_NOFILE from /proc (Linux;
// elsewhere both are null), the data plane and the listeners report each shortage they meet
// (note), and one rate-limited warning names the limit, the open descriptors and the open
// client connections. /admin/state shows the same figures (view).

import { readdir, readFile } from "node:fs/promises";
import type { Server } from "node:net";
import type { Counter } from "prom-client";
import type { LogSink } from "../../config/log-sink.js";
import { localExhaustionCode } from "../../health/local-exhaustion.js";
import type { DescriptorView } from "../admin/types.js";

const SAMPLE_MS = 2_000;
/** One warning per streak, then at most one per this while it lasts (with the count it stood for). */
const LOG_EVERY_MS = 30_000;

/** "Max open files  1024  4096  files": the soft limit, or null. */
function softLimit(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  return m === null || m[1] === "unlimited" ? null : Number(m[1]);
}

export class DescriptorLimits {
  private limit: number | null = null;
  private open: number | null = null;
  private sampledAtLimit = false;
  private notedSinceSample = false;
  private exhausted = 0;
  private last: DescriptorView["last"];
  private lastLogAt = -Infinity;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;
  private sampling = false;

  constructor(
    private readonly logger: LogSink,
    private readonly counter: Counter<"op">,
    /** Client connections open on the proxy listener now. */
    private readonly openConnections: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts sampling (unref'd: it never holds the process). */
  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Keeps a listening server's later errors (accept failing: EMFILE when libuv's spare
   * descriptor is gone too) from becoming an uncaught exception that ends the process. Call
   * after it listens (listenOn reports bind errors itself).
   */
  watch(server: Server, listener: string): void {
    server.on("error", (err: NodeJS.ErrnoException) => {
      const code = localExhaustionCode(err);
      if (code !== null) this.note("accept", code);
      else
        this.logger.error({ listener, err: err.message, code: err.code }, "listener error; still listening");
    });
  }

  /** A shortage met by `op`: counted, remembered for /admin/state, and logged at most every 30 s. */
  note(op: string, code: string): void {
    this.exhausted++;
    this.notedSinceSample = true;
    const at = this.now();
    this.last = { op, code, at: new Date(at).toISOString() };
    this.counter.inc({ op });
    if (at - this.lastLogAt < LOG_EVERY_MS) {
      this.suppressed++;
      return;
    }
    this.lastLogAt = at;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    const what =
      code === "EADDRNOTAVAIL"
        ? "this instance has no local port left to connect from (net.ipv4.ip_local_port_range); not the member's failure"
        : "this instance is at its file descriptor limit (raise LimitNOFILE / ulimit -n); new connections are closed at once and dials fail, not the members' failure";
    this.logger.warn(
      {
        op,
        code,
        limit: this.limit,
        open: this.open,
        openConnections: this.openConnections(),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      what,
    );
  }

  view(): DescriptorView {
    const v: DescriptorView = {
      limit: this.limit,
      open: this.open,
      atLimit: this.sampledAtLimit || this.notedSinceSample,
      exhausted: this.exhausted,
    };
    if (this.last !== undefined) v.last = this.last;
    return v;
  }

  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const noted = this.notedSinceSample;
      this.notedSinceSample = false;
      let atLimit = false;
      try {
        this.limit = softLimit(await readFile("/proc/self/limits", "latin1"));
      } catch (err) {
        if (localExhaustionCode(err) !== null) atLimit = true;
      }
      try {
        // The directory's own descriptor is listed too while it is read.
        this.open = (await readdir("/proc/self/fd")).length - 1;
      } catch (err) {
        if (localExhaustionCode(err) !== null) {
          atLimit = true;
          this.open = this.limit;
        } else this.open = null;
      }
      // Within 2 of the limit: libuv's spare descriptor is open, the next accept is closed.
      if (this.limit !== null && this.open !== null && this.open >= this.limit - 2) atLimit = true;
      const was = this.sampledAtLimit;
      this.sampledAtLimit = atLimit;
      if (atLimit && !was && !noted) this.note("descriptors", "EMFILE");
      else if (!atLimit && was)
        this.logger.info(
          { limit: this.limit, open: this.open, openConnections: this.openConnections() },
          "descriptors free again: below this instance's file descriptor limit",
        );
    } finally {
      this.sampling = false;
    }
  }
}
