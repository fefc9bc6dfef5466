// A steady, bounded load of idempotent keyed GETs spread round-robin over fleet instances'
// proxy listeners. Every answer is checked: status 200 and, when the expected owner of the
// key is known, that the echoing upstream is that owner. An instance can be marked as going
// down (`exclude`): nothing more is sent to it, and what was in flight to it is counted
// apart, so a test asserts zero failures over the requests that went to live instances.

import { httpRequest } from "./http-client.js";

export interface LoadTarget {
  id: string;
  /** Proxy listener, e.g. "http://127.0.0.1:41234". */
  httpUrl: string;
}

export interface LoadOptions {
  targets: readonly LoadTarget[];
  keys: readonly string[];
  /** Expected member per key; answers from any other member count as misrouted. */
  expected?: ReadonlyMap<string, string>;
  /** Path of every request (idempotent GET); default "/load". */
  path?: string;
  concurrency?: number;
  /** Hard bounds: whichever comes first ends the load. */
  maxRequests: number;
  maxMs: number;
  /** Pause between requests of one worker (ms); default 0. */
  pauseMs?: number;
  random: () => number;
}

export interface LoadFailure {
  target: string;
  key: string;
  error: string;
  atMs: number;
}

export interface LoadReport {
  sent: number;
  ok: number;
  /** Requests to live instances that did not get a 200. */
  failures: LoadFailure[];
  /** 200s from a member other than the expected owner. */
  misrouted: Array<{ target: string; key: string; expected: string; got: string }>;
  /** Requests to an excluded instance that were in flight (or refused) when it went down. */
  excluded: number;
  perTarget: Record<string, number>;
  /** 200s per target (a subset of perTarget: what each target actually served). */
  okPerTarget: Record<string, number>;
  durationMs: number;
}

export class SteadyLoad {
  private readonly o: LoadOptions;
  private readonly excludedIds = new Set<string>();
  /** Requests sent to a target before it was excluded, still in flight. */
  private stopped = false;
  private ended = false;
  private started = 0;
  private running: Promise<void> | undefined;
  private readonly report: LoadReport = {
    sent: 0,
    ok: 0,
    failures: [],
    misrouted: [],
    excluded: 0,
    perTarget: {},
    okPerTarget: {},
    durationMs: 0,
  };
  private rr = 0;
  /** Called after every answer and when the load ends (see `until`). */
  private readonly watchers = new Set<() => void>();

  constructor(o: LoadOptions) {
    if (o.targets.length === 0) throw new Error("SteadyLoad: no targets");
    if (o.keys.length === 0) throw new Error("SteadyLoad: no keys");
    this.o = o;
  }

  start(): this {
    this.started = performance.now();
    const n = this.o.concurrency ?? 4;
    this.running = Promise.all(Array.from({ length: n }, () => this.worker())).then(() => {
      this.report.durationMs = Math.round(performance.now() - this.started);
      this.ended = true;
      this.notify();
    });
    return this;
  }

  /** Stop sending to `id` from now on; its in-flight requests no longer count as failures. */
  exclude(id: string): void {
    this.excludedIds.add(id);
  }

  /** Send to `id` again (it came back, as a restarted pod rejoins its Service's endpoints). */
  include(id: string): void {
    this.excludedIds.delete(id);
  }

  /** Requests answered so far. */
  get done(): number {
    return this.report.ok + this.report.failures.length + this.report.excluded;
  }

  /** 200s served so far, per target (a copy: a mark to count from). */
  okSoFar(): Record<string, number> {
    return { ...this.report.okPerTarget };
  }

  /**
   * Resolves once `pred` holds for the report, checked after every answer; rejects (with
   * `what` and the report) when `timeoutMs` passes or the load ends by its own bounds first.
   * So a test waits for "every survivor served N requests", not for a sleep's worth of them.
   */
  until(what: string, pred: (r: LoadReport) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.watchers.delete(check);
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const check = () => {
        if (pred(this.report)) done();
        else if (this.ended) done(new Error(`load ended before ${what}: ${describeLoad(this.report)}`));
      };
      const timer = setTimeout(
        () => done(new Error(`${what}: not within ${timeoutMs} ms: ${describeLoad(this.report)}`)),
        timeoutMs,
      );
      this.watchers.add(check);
      check();
    });
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Ends the load early (it also ends by itself at maxRequests/maxMs) and returns the report. */
  async stop(): Promise<LoadReport> {
    this.stopped = true;
    await this.running;
    return this.report;
  }

  /** Waits for the load to end by its own bounds. */
  async finished(): Promise<LoadReport> {
    await this.running;
    return this.report;
  }

  private pickTarget(): LoadTarget | undefined {
    const ts = this.o.targets;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[this.rr++ % ts.length];
      if (!this.excludedIds.has(t.id)) return t;
    }
    return undefined;
  }

  private async worker(): Promise<void> {
    const o = this.o;
    const path = o.path ?? "/load";
    while (!this.stopped && this.report.sent < o.maxRequests && performance.now() - this.started < o.maxMs) {
      const target = this.pickTarget();
      if (target === undefined) return;
      const key = o.keys[Math.floor(o.random() * o.keys.length)];
      this.report.sent++;
      this.report.perTarget[target.id] = (this.report.perTarget[target.id] ?? 0) + 1;
      const atMs = Math.round(performance.now() - this.started);
      try {
        const r = await httpRequest(`${target.httpUrl}${path}`, {
          headers: { "x-user-id": key },
          timeoutMs: 5_000,
        });
        const member = (r.body as { member?: unknown } | undefined)?.member;
        if (r.status !== 200) {
          if (this.excludedIds.has(target.id)) this.report.excluded++;
          else
            this.report.failures.push({
              target: target.id,
              key,
              error: `status ${r.status}: ${r.text.slice(0, 200)}`,
              atMs,
            });
        } else {
          this.report.ok++;
          this.report.okPerTarget[target.id] = (this.report.okPerTarget[target.id] ?? 0) + 1;
          const want = o.expected?.get(key);
          if (want !== undefined && member !== want)
            this.report.misrouted.push({ target: target.id, key, expected: want, got: String(member) });
        }
      } catch (err) {
        if (this.excludedIds.has(target.id)) this.report.excluded++;
        else this.report.failures.push({ target: target.id, key, error: String(err), atMs });
      }
      this.notify();
      if (o.pauseMs !== undefined && o.pauseMs > 0) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  }
}

/** A one-line summary for diagnostics and assertion messages. */
export function describeLoad(r: LoadReport): string {
  const first = r.failures.slice(0, 5).map((f) => `${f.target}@${f.atMs}ms ${f.key}: ${f.error}`);
  const mis = r.misrouted.slice(0, 5).map((m) => `${m.target} ${m.key}: want ${m.expected} got ${m.got}`);
  return `sent=${r.sent} ok=${r.ok} failed=${r.failures.length} misrouted=${r.misrouted.length} excluded=${r.excluded} in ${r.durationMs}ms per-target=${JSON.stringify(r.perTarget)}${first.length ? ` first failures: ${first.join(" | ")}` : ""}${mis.length ? ` misrouted: ${mis.join(" | ")}` : ""}`;
}
