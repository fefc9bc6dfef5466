// GET /admin/dashboard: everything the dashboard page shows in one answer (this instance's
// state, live member figures, recent ring changes, the fleet's Raft views, the signals panel's
// metric families). Built at most
// once per FEED_TTL_MS and shared by every open page, so ten dashboards cost about what one
// does (see `npm run bench -- dashboard`).

import { htmlSafeJson } from "./html-safe-json.js";
import type { OpsBackend } from "./ops-types.js";

const FEED_TTL_MS = 500;

export class DashboardFeed {
  private cached: { at: number; text: Promise<string> } | undefined;

  constructor(
    private readonly ops: OpsBackend,
    private readonly state: () => unknown,
  ) {}

  read(): Promise<string> {
    const now = performance.now();
    if (this.cached !== undefined && now - this.cached.at < FEED_TTL_MS) return this.cached.text;
    const text = this.build();
    this.cached = { at: now, text };
    // A failed build is not cached.
    text.catch(() => {
      if (this.cached?.text === text) this.cached = undefined;
    });
    return text;
  }

  private async build(): Promise<string> {
    const [fleet, signals] = await Promise.all([this.ops.fleet(), this.ops.signals?.() ?? null]);
    const body = {
      at: new Date().toISOString(),
      state: this.state(),
      live: this.ops.live(),
      changes: this.ops.changes().slice(-20),
      fleet,
      signals,
    };
    return `${htmlSafeJson(body)}\n`;
  }
}
