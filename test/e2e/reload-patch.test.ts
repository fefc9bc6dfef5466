// A reload of a real shardgate process proposes only the members that changed (PatchRouting)
// when that is all the file changed, and the whole routing (SetRouting) when settings change;
// either way the committed state ends up with exactly the file's members, and keys route to
// the added member.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";

const TOKEN = "reload-patch-test-token";
const SIZE = 300;

function members(ids: readonly number[]): Array<{ id: string; port: number }> {
  return ids.map((i) => ({ id: `m${i}`, port: 20_000 + (i % 7) }));
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe("reload proposes the changed members only", () => {
  let sg: RunningShardgate;
  const yaml = (ids: readonly number[], poolExtra = "") =>
    poolConfig({ members: members(ids), token: TOKEN, accessLog: false, poolExtra });

  const reload = async (): Promise<void> => {
    const r = await fetchJson(`${sg.adminUrl}/admin/reload`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.status, 200, r.text);
  };
  const lastChange = async (): Promise<{ command: string; cause: string; pools: string[] }> => {
    const r = await fetchJson(`${sg.adminUrl}/admin/changes`);
    const list = (r.body as { changes: Array<{ command: string; cause: string; pools: string[] }> }).changes;
    assert.ok(list.length > 0, r.text);
    return list[list.length - 1];
  };
  const committedIds = async (): Promise<string[]> => {
    const r = await fetchJson(`${sg.adminUrl}/admin/state`);
    const ids = [...r.text.matchAll(/"id":"(m\d+)"/g)].map((m) => m[1]);
    return [...new Set(ids)].sort();
  };
  const expected = (ids: readonly number[]) => ids.map((i) => `m${i}`).sort();

  before(async () => {
    sg = await startShardgate(yaml(range(SIZE)), { timeoutMs: 60_000 });
  });
  after(async () => {
    await sg?.stop();
  });

  test("adding a member commits a PatchRouting; the member is routed to", async () => {
    const ids = [...range(SIZE), SIZE];
    sg.config.write(yaml(ids));
    await reload();
    const change = await lastChange();
    assert.equal(change.command, "PatchRouting", JSON.stringify(change));
    assert.equal(change.cause, "reload");
    assert.deepEqual(await committedIds(), expected(ids));
    // Some key is owned by the new member (the ring gives it ~1/301 of the keys).
    let owned = false;
    for (let k = 0; k < 5000 && !owned; k++) {
      const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=k${k}`);
      owned = (r.body as { owner?: string }).owner === `m${SIZE}`;
    }
    assert.ok(owned, "no key of 5,000 routes to the added member");
  });

  test("removing a member from the middle commits a PatchRouting", async () => {
    const ids = [...range(SIZE), SIZE].filter((i) => i !== 150);
    sg.config.write(yaml(ids));
    await reload();
    assert.equal((await lastChange()).command, "PatchRouting");
    assert.deepEqual(await committedIds(), expected(ids));
    const state = (await fetchJson(`${sg.adminUrl}/admin/state`)).body as { configDrift: { drift: boolean } };
    assert.equal(state.configDrift.drift, false, "the committed routing is the file's");
  });

  test("a settings change commits the whole routing (SetRouting)", async () => {
    const ids = [...range(SIZE), SIZE].filter((i) => i !== 150);
    sg.config.write(yaml(ids, "    pointsPerWeight: 100\n"));
    await reload();
    assert.equal((await lastChange()).command, "SetRouting");
    const state = (await fetchJson(`${sg.adminUrl}/admin/state`)).body as { configDrift: { drift: boolean } };
    assert.equal(state.configDrift.drift, false, "the committed routing is the file's");
    assert.deepEqual(await committedIds(), expected(ids));
  });
});
