// With `workers: N`, the primary's part of the container's memory (memory-limit.ts), measured
// twice. A first split from its RSS as the app is wired (its overload guard is built with it but
// samples only from the second on); then again once its Raft state is loaded (a snapshot and log
// read from disk, a solo node's first commit and the rings built from it), before any worker
// starts. Measured only before, a large state left the primary a reserve smaller than its
// footprint: it shed, or refused with /readyz 503, at idle. The second measurement is the budget
// the workers split the rest by; it is logged with the figures, and a container too small for
// the primary and its workers at idle is said at once, naming what it would take.

import type { Logger } from "pino";
import type { ShardgateConfig } from "../../config/file/schema.js";
import {
  idleShare,
  type MemoryLimit,
  primaryFloor,
  primaryReserve,
  splitShortfall,
  type WorkerSplit,
} from "../server/memory-limit.js";

export class PrimaryMemorySplit {
  /** The primary's RSS before its Raft state loaded: the code and config a worker loads too. */
  private readonly before: number;
  private current: WorkerSplit;

  constructor(
    private readonly workers: number,
    private readonly limits: ShardgateConfig["limits"],
    rss = process.memoryUsage.rss(),
  ) {
    this.before = rss;
    this.current = this.splitFor(rss);
  }

  private splitFor(rss: number): WorkerSplit {
    return {
      role: "primary",
      workers: this.workers,
      primaryReserve: primaryReserve(rss),
      primaryFloor: primaryFloor(rss, this.limits.shedAt),
    };
  }

  /** The split as last measured. */
  get split(): WorkerSplit {
    return this.current;
  }

  /**
   * Once the Raft state is loaded: measures again, hands the new split to the primary's guard
   * (`resplit`), logs the budget and warns when memory.max cannot hold every process at idle.
   */
  settle(
    resplit: (split: WorkerSplit) => MemoryLimit,
    logger: Logger,
    rss = process.memoryUsage.rss(),
  ): void {
    this.current = this.splitFor(rss);
    const limit = resplit(this.current);
    const mb = (n: number) => Math.round(n / 1048576);
    logger.info(
      {
        code: "memory_split",
        workers: this.workers,
        primaryRssMb: mb(rss),
        primaryRssBeforeStateMb: mb(this.before),
        primaryLimitMb: limit.source === "v8-heap" ? null : mb(limit.bytes),
        limitSource: limit.source,
      },
      "memory budget of the primary, measured with its Raft state loaded",
    );
    const short = splitShortfall(
      this.limits.memory,
      this.current,
      idleShare(this.before, this.limits.shedAt),
    );
    if (short !== null) logger.warn({ code: "memory_too_small_for_workers" }, short);
  }
}
