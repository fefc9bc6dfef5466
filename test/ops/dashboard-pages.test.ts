// GET /admin/dashboard's pages against a running shardgate: the page asked for is the page
// answered (answers are shared for 500 ms, and offset 50 once came back as the cached 0..99),
// a bad or repeated page parameter is a clear 400, a pool named like an Object.prototype
// member (constructor, __proto__: once a 500) is a 404 like any other unknown pool, and a
// reload that shrinks the pool below the offset answers its last page.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { unansweredPoolYaml } from "../support/unanswered-pool-config.js";
import { eventually } from "../support/wait.js";

const TOKEN = "dashboard-pages-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** `n` members on addresses nobody answers. */
function yaml(n: number): string {
  return unansweredPoolYaml(TOKEN, n, (i) => ({ id: `m${String(i).padStart(3, "0")}`, port: 1 + i }));
}

interface Page {
  offset: number;
  total: number;
  rows: Array<{ id: string; index: number }>;
}

describe("dashboard pages", () => {
  let sg: RunningShardgate;
  before(async () => {
    sg = await startShardgate(yaml(250));
  });
  after(async () => {
    await sg?.stop();
  });

  async function page(query: string): Promise<Page> {
    const r = await fetch(`${sg.adminUrl}/admin/dashboard?${query}`, { headers: AUTH });
    assert.equal(r.status, 200, `${query}: ${r.status}`);
    return ((await r.json()) as { members: Page }).members;
  }

  test("an offset inside a page lists from that offset, also when its page was just answered", async () => {
    // Asked together, both answers come from one gathering.
    for (let round = 0; round < 3; round++) {
      const [first, mid] = await Promise.all([page("offset=0"), page("offset=50")]);
      assert.equal(first.rows[0].index, 0);
      assert.deepEqual(
        { offset: mid.offset, firstIndex: mid.rows[0].index, rows: mid.rows.length },
        { offset: 50, firstIndex: 50, rows: 100 },
        `round ${round}`,
      );
    }
  });

  test("a bad or repeated page parameter is a 400 naming it, an unknown pool a 404", async () => {
    const bad: Array<[string, string]> = [
      ["/admin/dashboard?offset=-1", "offset"],
      ["/admin/dashboard?offset=abc", "offset"],
      ["/admin/dashboard?offset=1.5", "offset"],
      ["/admin/dashboard?offset=", "offset"],
      ["/admin/dashboard?offset=99999999999", "offset"],
      ["/admin/dashboard?offset=0&offset=100", "offset"],
      ["/admin/dashboard?show=ALL", "show"],
      ["/admin/dashboard?show=", "show"],
      ["/admin/dashboard?show=all&show=out", "show"],
      ["/admin/dashboard?pool=big&pool=other", "pool"],
      ["/admin/ring?pool=big&top=0", "top"],
      ["/admin/ring?pool=big&top=-1", "top"],
      ["/admin/ring?pool=big&top=abc", "top"],
      ["/admin/ring?pool=big&top=1000000", "top"],
      ["/admin/ring?pool=big&top=5&top=10", "top"],
    ];
    for (const [path, name] of bad) {
      const r = await fetch(`${sg.adminUrl}${path}`, { headers: AUTH });
      const body = (await r.json()) as { error: string; message: string };
      assert.equal(r.status, 400, `${path}: ${r.status} ${JSON.stringify(body).slice(0, 200)}`);
      assert.equal(body.error, "bad_parameter", path);
      assert.ok(body.message.startsWith(`${name}: `), `${path}: ${body.message}`);
    }
    for (const name of ["constructor", "__proto__", "toString", "nope"]) {
      const r = await fetch(`${sg.adminUrl}/admin/dashboard?pool=${name}`, { headers: AUTH });
      const body = (await r.json()) as { error: string };
      assert.deepEqual({ status: r.status, error: body.error }, { status: 404, error: "unknown_pool" }, name);
    }
    assert.equal((await page("offset=100")).offset, 100, "still answering");
  });

  test("a reload that shrinks the pool below the offset answers its last page", async () => {
    assert.equal((await page("offset=200")).rows.length, 50);
    sg.config.write(yaml(120));
    const r = await fetch(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
    assert.equal(r.status, 200, await r.text());
    const shrunk = await eventually("the pool at 120 members", async () => {
      const p = await page("offset=200");
      return p.total === 120 ? p : undefined;
    });
    assert.deepEqual(
      { offset: shrunk.offset, first: shrunk.rows[0].index, rows: shrunk.rows.length },
      { offset: 100, first: 100, rows: 20 },
    );
  });
});
