// This instance's own descriptor limit, made visible. At the limit libuv closes each new
// client connection at once (it keeps a spare descriptor for that) and says nothing, and a dial
// to a member fails with EMFILE: without this an operator sees clients cut and 503s and no
// cause. Every 2 s a sampler reads the soft RLIMIT_NOFILE from /proc and tries to open one
// descriptor (Linux; elsewhere the limit is null), the data plane and the listeners report each
// shortage they meet (note), and one rate-limited warning names the limit, the open descriptors
// and the open client connections. /admin/state shows the same figures (view).
//
// Everything here runs synchronously on the main thread: libuv's spare-descriptor trick also
// runs there (close the spare, accept and close, reopen it), and an open on a thread-pool thread
// (fs.promises) could take the spare's number in between, leaving libuv without one.

import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import type { AddressInfo, Server } from "node:net";
import type { LogSink } from "../../config/log-sink.js";
import { localExhaustionCode } from "../../health/local-exhaustion.js";
import type { DescriptorView } from "../admin/types.js";
import type { OpCounter } from "../metrics/registry.js";

const SAMPLE_MS = 2_000;
/** One warning per streak, then at most one per this while it lasts (with the count it stood for). */
const LOG_EVERY_MS = 30_000;
/** How long a listing of the open descriptors is reused. */
const OPEN_CACHE_MS = 5_000;
/** How long a listener whose accept failed stops accepting before it listens again. */
const ACCEPT_PAUSE_MS = 1_000;

/** "Max open files  1024  4096  files": the soft limit, or null. */
function softLimit(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  return m === null || m[1] === "unlimited" ? null : Number(m[1]);
}

export class DescriptorLimits {
  private limit: number | null = null;
  private sampledAtLimit = false;
  private notedSinceSample = false;
  private exhausted = 0;
  private last: DescriptorView["last"];
  private lastLogAt = -Infinity;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly pauses = new Set<NodeJS.Timeout>();
  private stopped = false;
  private openCached: number | null = null;
  private openAt = -Infinity;
  /**
   * /proc/self/limits, kept open from start(): at the limit no descriptor is left to open it,
   * and a limit lowered while running (prlimit) was then reported as the old one ("limit":
   * 20000, "open": 20000 at a limit of 260). Read from offset 0, the kernel writes it afresh.
   */
  private limitsFd: number | null = null;
  private readonly limitsBuf = Buffer.alloc(4096);

  constructor(
    private readonly logger: LogSink,
    private readonly counter: OpCounter,
    /** Client connections open on the proxy listener now. */
    private readonly openConnections: () => number,
    /** True once the process is stopping: a paused listener then stays closed. */
    private readonly stopping: () => boolean = () => false,
    /** Durations (the warning's interval, the listing's reuse): monotonic, a clock step moves neither. */
    private readonly now: () => number = () => performance.now(),
    /** The time shown in /admin/state (`last.at`). */
    private readonly wallNow: () => number = Date.now,
  ) {}

  /** Starts sampling (unref'd: it never holds the process). */
  start(): void {
    try {
      this.limitsFd = openSync("/proc/self/limits", "r");
    } catch {
      this.limitsFd = null; // not Linux, or no descriptor: read by path at each sample
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  /** Stops sampling and any listener's pending re-listen (call when the process stops). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.limitsFd !== null) closeSync(this.limitsFd);
    this.limitsFd = null;
    for (const t of this.pauses) clearTimeout(t);
    this.pauses.clear();
  }

  /**
   * Handles a listening server's later errors; call after it listens (listenOn reports the
   * bind's). Node reports a failed accept only when libuv's spare descriptor is gone too, and
   * libuv then calls back again at once, in a loop that never returns to the event loop while
   * the limit lasts: without a listener the first call was an uncaught exception (exit), with a
   * listener alone it would spin a core. So an accept at the limit is counted and logged, and
   * the listener stops accepting (requests in flight go on) and listens again after 1 s.
   * `relistenAt`: where to listen again (default: the address it is bound to). A node:cluster
   * worker passes the address as configured: the primary shares one listening handle per
   * requested address, so a worker that asked for port 0 must ask for port 0 again to rejoin it
   * (asking for the bound port by number tried to bind it a second time: EADDRINUSE, and the
   * worker accepted nothing until restarted).
   */
  watch(server: Server, listener: string, relistenAt?: { port: number; host: string }): void {
    server.on("error", (err: NodeJS.ErrnoException) => {
      const code = localExhaustionCode(err);
      if (code === null) {
        this.logger.error({ listener, err: err.message, code: err.code }, "listener error");
        return;
      }
      this.note("accept", code);
      this.pauseAccepting(server, listener, relistenAt);
    });
  }

  private pauseAccepting(
    server: Server,
    listener: string,
    relistenAt?: { port: number; host: string },
  ): void {
    const bound = server.address() as AddressInfo | null;
    if (!server.listening || bound === null || this.stopped || this.stopping()) return;
    // Closing the listening socket ends libuv's accept loop. Requests in flight go on; an
    // http.Server's close also closes its idle keep-alive connections, freeing descriptors.
    server.close();
    const t = setTimeout(() => {
      this.pauses.delete(t);
      if (this.stopped || this.stopping() || server.listening) return;
      // Armed for this re-listen only: once it listens, the handler goes (a later accept error
      // is a new pause, not a failed re-listen).
      const failed = (err: NodeJS.ErrnoException) => {
        server.off("listening", listened);
        this.logger.error(
          { listener, address: bound.address, port: bound.port, code: err.code, err: err.message },
          "listener could not listen again after its accept failed; restart the instance",
        );
      };
      const listened = () => server.off("error", failed);
      server.once("error", failed);
      server.once("listening", listened);
      server.listen(relistenAt?.port ?? bound.port, relistenAt?.host ?? bound.address);
    }, ACCEPT_PAUSE_MS);
    t.unref();
    this.pauses.add(t);
  }

  /** A shortage met by `op`: counted, remembered for /admin/state, and logged at most every 30 s. */
  note(op: string, code: string): void {
    this.exhausted++;
    this.notedSinceSample = true;
    const at = this.now();
    this.last = { op, code, at: new Date(this.wallNow()).toISOString() };
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
        open: this.openNow(),
        openConnections: this.openConnections(),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      what,
    );
  }

  view(): DescriptorView {
    const v: DescriptorView = {
      limit: this.limit,
      open: this.openNow(),
      atLimit: this.sampledAtLimit || this.notedSinceSample,
      exhausted: this.exhausted,
    };
    if (this.last !== undefined) v.last = this.last;
    return v;
  }

  /**
   * Descriptors open (the limit when none is left to list them with, null where /proc cannot
   * tell). Listed on demand and kept 5 s: listing 10,000 took ~3 ms, 19,000 ~11 ms, too much
   * for every sample or every /admin/state read (the fleet view reads it from each peer).
   */
  private openNow(): number | null {
    const now = this.now();
    if (now - this.openAt < OPEN_CACHE_MS) return this.openCached;
    this.openAt = now;
    try {
      // The directory's own descriptor is listed too while it is read.
      this.openCached = readdirSync("/proc/self/fd").length - 1;
    } catch (err) {
      this.openCached = localExhaustionCode(err) !== null ? this.limit : null;
    }
    return this.openCached;
  }

  private readLimits(): string {
    if (this.limitsFd === null) return readFileSync("/proc/self/limits", "latin1");
    const n = readSync(this.limitsFd, this.limitsBuf, 0, this.limitsBuf.length, 0);
    return this.limitsBuf.toString("latin1", 0, n);
  }

  private sample(): void {
    const noted = this.notedSinceSample;
    this.notedSinceSample = false;
    let atLimit = false;
    try {
      this.limit = softLimit(this.readLimits());
    } catch (err) {
      if (localExhaustionCode(err) !== null) atLimit = true;
    }
    if (!atLimit) {
      // One descriptor opened and closed at once: none left means the next accept is closed.
      try {
        closeSync(openSync("/dev/null", "r"));
      } catch (err) {
        if (localExhaustionCode(err) !== null) atLimit = true;
      }
    }
    const was = this.sampledAtLimit;
    this.sampledAtLimit = atLimit;
    if (atLimit && !was && !noted) this.note("descriptors", "EMFILE");
    else if (!atLimit && was)
      this.logger.info(
        { limit: this.limit, open: this.openNow(), openConnections: this.openConnections() },
        "descriptors free again: below this instance's file descriptor limit",
      );
  }
}
