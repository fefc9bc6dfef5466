// A shardgate process under churn as the churn tests talk to it: its admin API read with a
// bearer token, the key each member owns found through /admin/routes, and a request on such a
// key that the member must answer. Every failure carries the process's output and the seed.

import assert from "node:assert/strict";
import type { RunningShardgate } from "./shardgate-process.js";
import { scaled } from "./wait.js";

export class ChurnGate {
  constructor(
    readonly sg: RunningShardgate,
    private readonly token: string,
    /** seedNote(seed): the tail of every failure message. */
    readonly note: string,
  ) {}

  /** The process's output and the seed note, for failure messages. */
  output(): string {
    return `${this.sg.proc.output()}\n${this.note}`;
  }

  /** The body of an admin GET, which must answer 200 within 15 s (scaled). */
  async adminText(path: string): Promise<string> {
    const res = await fetch(`${this.sg.adminUrl}${path}`, {
      headers: { authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(scaled(15_000)),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `${path.slice(0, 60)}: ${text}\n${this.output()}`);
    return text;
  }

  /** One key owned by each owner of `pool` now, from 300 keys drawn from `random` asked at once (under 8 KB of URL). */
  async keyPerOwner(pool: string, random: () => number): Promise<Map<string, string>> {
    const keys = Array.from({ length: 300 }, () => `k${Math.floor(random() * 1e8)}`);
    const q = keys.map((k) => `key=${encodeURIComponent(k)}`).join("&");
    const answer = JSON.parse(await this.adminText(`/admin/routes?pool=${pool}&${q}`)) as {
      routes: Array<{ key: string; owner: string }>;
    };
    const out = new Map<string, string>();
    for (const r of answer.routes) if (!out.has(r.owner)) out.set(r.owner, r.key);
    return out;
  }

  /** A request on `key` (header x-k) must be answered 200 by `member` itself. */
  async serve(key: string, member: string): Promise<void> {
    const res = await fetch(`${this.sg.httpUrl}/x`, {
      headers: { "x-k": key },
      signal: AbortSignal.timeout(scaled(15_000)),
    });
    const body = (await res.json()) as { member?: string };
    assert.equal(res.status, 200, `${key}\n${this.output()}`);
    assert.equal(body.member, member, `the key's owner served it\n${this.note}`);
  }
}
