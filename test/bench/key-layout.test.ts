// The scale bench's key layout (bench/scale/key-layout.ts) against a real shardgate: the
// members and upstream addresses it says the bench's keys reach are where requests go, its
// /admin/route check refuses a layout that is not the proxy's, and it shows the difference
// between sizes that made the request rows spread over 4 addresses compare unlike things.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { checkLayout, keyLayout } from "../../bench/scale/key-layout.js";
import { KEY_HEADER, type Shardgate, startShardgate } from "../../bench/scale/processes.js";
import { closeAll, type EchoBody, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const MEMBERS = 1000;
const KEYS = 30;

describe("scale bench key layout", () => {
  let upstreams: EchoUpstream[] = [];
  let sg: Shardgate | null = null;
  let dir = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "key-layout-"));
    upstreams = await startUpstreams(4, "a");
    const addresses = upstreams.map((u) => `${u.address.host}:${u.address.port}`);
    sg = await startShardgate(dir, "layout", { members: MEMBERS, algorithm: "ring" }, addresses);
  });

  after(async () => {
    await sg?.stop();
    await closeAll(upstreams);
    rmSync(dir, { recursive: true, force: true });
  });

  it("names the upstream address every key's requests reach", async () => {
    const s = sg as Shardgate;
    const l = keyLayout(MEMBERS, KEYS, upstreams.length);
    await checkLayout(s.admin, l, KEYS);
    for (let k = 0; k < KEYS; k++) {
      const res = await fetch(s.url, { headers: { [KEY_HEADER]: `k${k}` } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as EchoBody;
      assert.equal(body.member, upstreams[l.addressOfKey[k]].id, `key k${k}`);
    }
    assert.equal(l.membersHit, KEYS);
    assert.deepEqual(l.keysPerAddress, [4, 8, 7, 11]);
  });

  it("refuses a layout that is not the proxy's", async () => {
    // Another pool size's layout (consistent hashing keeps the owners of most keys when one
    // member goes: 10,000 members, not 999, so that some of the 30 differ).
    const other = keyLayout(10_000, KEYS, upstreams.length);
    assert.ok(other.ownerOfKey.some((id, k) => id !== keyLayout(MEMBERS, KEYS, 4).ownerOfKey[k]));
    await assert.rejects(
      checkLayout((sg as Shardgate).admin, other, KEYS),
      /key layout: k\d+ at 10000 members/,
    );
  });

  it("on 4 addresses 3 members reach 3 of them and 1,000 all 4; on one address every size alike", () => {
    assert.deepEqual(keyLayout(3, KEYS, 4).keysPerAddress, [14, 6, 10, 0]);
    assert.deepEqual(keyLayout(10_000, KEYS, 4).keysPerAddress, [3, 12, 4, 11]);
    for (const n of [3, 1000, 10_000]) assert.deepEqual(keyLayout(n, KEYS, 1).keysPerAddress, [KEYS]);
  });
});
