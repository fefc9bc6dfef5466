// The disk under a running instance, tried from the outside on real processes:
// - the data directory removed (`rm -rf`, a volume unmounted the wrong way): every admin write
//   still answered 200 and /readyz said ready, while each acknowledged change went into a log
//   segment with no name left, lost at the next restart. The group commit now checks that the
//   active segment is still linked (config/raft/storage/file-storage.ts): the first write after
//   the removal is refused 503 raft_stopped, /readyz says degraded raft_stopped with the cause,
//   and routing goes on with the last committed state.
// - the disk full (ENOSPC, a 256 KiB tmpfs filled up; skipped where tmpfs cannot be mounted):
//   the same answers; once space is back, a restart on the same directory serves what was
//   committed before and takes writes again.
// Read-only while running cannot be made here (Linux refuses to remount read-only with the log
// open for writing); the EROFS path goes through the storage seam (test/cluster/raft-stopped-takeover.test.ts).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { STOP_CLOSE_MS } from "../../proxy/app/stop-deadline.js";
import { DEFAULT_DRAIN_TIMEOUT_MS } from "../../proxy/app.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const TOKEN = "disk-test-token-0123456789";
// The process bounds its own stop (drain deadline + close, then exit 1); the harness's SIGKILL
// must come after that bound, or a clean but slow stop on a loaded machine (the Raft node's last
// fsync, the log flushed) reads as killed. Exiting 0 is still asserted, and can still fail.
const STOP_GRACE_MS = DEFAULT_DRAIN_TIMEOUT_MS + STOP_CLOSE_MS + 5_000;
let upstreams: EchoUpstream[] = [];
const dir = mkdtempSync(join(tmpdir(), "shardgate-disk-"));

before(async () => {
  upstreams = await startUpstreams(2);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
  rmSync(dir, { recursive: true, force: true });
});

function yaml(): string {
  return poolConfig({
    members: [
      { id: "m1", port: upstreams[0].port },
      { id: "m2", port: upstreams[1].port },
    ],
    token: TOKEN,
  });
}

async function post(
  sg: RunningShardgate,
  path: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${sg.adminUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function readyz(sg: RunningShardgate): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${sg.adminUrl}/readyz`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** The members that served `n` requests with distinct keys. */
async function servedBy(sg: RunningShardgate, n: number): Promise<Set<string>> {
  const members = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${sg.httpUrl}/k?user=user-${i}`);
    assert.equal(r.status, 200);
    members.add(r.headers.get("x-member") ?? "?");
    await r.arrayBuffer();
  }
  return members;
}

/** Asserts the stopped-Raft answers: writes 503 raft_stopped, /readyz degraded with `cause`, routing on. */
async function assertStoppedButRouting(sg: RunningShardgate, cause: RegExp): Promise<void> {
  const w = await post(sg, "/admin/pools/users/members/m2/drain");
  assert.equal(w.status, 503, JSON.stringify(w.body));
  assert.equal(w.body.error, "raft_stopped");
  const r = await readyz(sg);
  assert.equal(r.status, 200, "a stopped Raft node still routes: ready, degraded");
  assert.equal(r.body.degraded, true, JSON.stringify(r.body));
  assert.equal(r.body.reason, "raft_stopped");
  assert.match(String((r.body.detail as { cause?: unknown }).cause), cause);
  // The last committed state: m1 drained, so m2 serves every key.
  assert.deepEqual([...(await servedBy(sg, 20))], ["m2"]);
  // Still refused a moment later: no write is ever acknowledged on this storage.
  assert.equal((await post(sg, "/admin/pools/users/members/m1/undrain")).status, 503);
}

test("the data directory removed while running: writes refused 503 raft_stopped, routing on the committed state", async () => {
  const data = join(dir, "removed");
  const sg = await startShardgate(yaml(), { args: ["--data-dir", data] });
  assert.equal((await post(sg, "/admin/pools/users/members/m1/drain")).status, 200);
  rmSync(data, { recursive: true, force: true });
  await assertStoppedButRouting(sg, /has been deleted/);
  assert.equal(sg.proc.exit, undefined, "nothing crashed");
  assert.deepEqual(await sg.stop(STOP_GRACE_MS), { code: 0, signal: null });
});

/** Mounts a `size` tmpfs at a new directory, or returns why it cannot (not root, no CAP_SYS_ADMIN). */
function mountTmpfs(size: string): { path: string } | { skip: string } {
  const path = join(dir, "tmpfs");
  mkdirSync(path, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", path], { stdio: "pipe" });
    return { path };
  } catch (err) {
    return { skip: `cannot mount a tmpfs here: ${String(err).split("\n")[0]}` };
  }
}

/** Writes zeros into `file` until the file system says ENOSPC. */
function fill(file: string): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(4096);
  try {
    for (let i = 0; i < 1_000_000; i++) writeSync(fd, chunk);
    throw new Error("the file system never filled up");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

async function m1Draining(sg: RunningShardgate): Promise<boolean> {
  const st = (await (await fetch(`${sg.adminUrl}/admin/state`)).json()) as {
    pools: Record<string, { members: Array<{ id: string; draining: boolean }> }>;
  };
  return st.pools.users.members.find((m) => m.id === "m1")?.draining === true;
}

test("the disk full (ENOSPC) while running: writes refused, routing on; after space is back a restart keeps every acknowledged write", async (t) => {
  const m = mountTmpfs("256k");
  if ("skip" in m) {
    t.skip(m.skip);
    return;
  }
  try {
    const data = join(m.path, "data");
    const first = await startShardgate(yaml(), { args: ["--data-dir", data] });
    const filler = join(m.path, "filler");
    fill(filler);
    // Records land in the log's last page until it is full: toggle m1 until a write needs a
    // page the file system no longer has. Each acknowledged toggle must survive the restart.
    let acknowledged = false;
    let refused: { status: number; body: Record<string, unknown> } | undefined;
    for (let i = 0; i < 2_000 && refused === undefined; i++) {
      const want = i % 2 === 0;
      const r = await post(first, `/admin/pools/users/members/m1/${want ? "drain" : "undrain"}`);
      if (r.status === 200) acknowledged = want;
      else refused = r;
    }
    assert.ok(refused !== undefined, "a write was refused once the disk was full");
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error, "raft_stopped");
    const r = await readyz(first);
    assert.equal(r.status, 200, "a stopped Raft node still routes: ready, degraded");
    assert.equal(r.body.reason, "raft_stopped");
    assert.match(String((r.body.detail as { cause?: unknown }).cause), /ENOSPC|no space/i);
    const served = await servedBy(first, 20);
    if (acknowledged) assert.deepEqual([...served], ["m2"]);
    assert.equal((await post(first, "/admin/pools/users/members/m2/drain")).status, 503);
    assert.equal(first.proc.exit, undefined, "nothing crashed");
    assert.deepEqual(await first.stop(STOP_GRACE_MS), { code: 0, signal: null });
    // Space back, restart on the same directory: the last acknowledged state, and writes again.
    rmSync(filler);
    const second = await startShardgate(yaml(), { args: ["--data-dir", data] });
    // Degraded no_quorum until it has elected itself again, then plainly ready.
    await eventually(
      "the restarted instance ready and not degraded",
      async () => ((await readyz(second)).body.degraded === undefined ? true : undefined),
      20_000,
    );
    assert.equal(await m1Draining(second), acknowledged, "every acknowledged write survived");
    assert.equal(
      (await post(second, `/admin/pools/users/members/m1/${acknowledged ? "undrain" : "drain"}`)).status,
      200,
    );
    assert.deepEqual(await second.stop(STOP_GRACE_MS), { code: 0, signal: null });
  } finally {
    await stopAll();
    execFileSync("umount", [m.path]);
  }
});
