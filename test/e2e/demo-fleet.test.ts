// `shardgate demo` (what `npm start` runs) as a real process: it starts three voters and a
// learner that agree on one leader, the same key reaches the same upstream through every
// instance, and SIGINT stops every instance and removes the temp state directory.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fetchJson, ShardgateChild, stopAll } from "../support/shardgate-process.js";
import { eventually, eventuallyTrue } from "../support/wait.js";

interface Row {
  id: string;
  role: string;
  proxy: string;
  admin: string;
  pid: number;
}

const ROW = /^\s+(\w+)\s+(voter|learner)\s+proxy (\S+)\s+admin (\S+)\s+raft \S+\s+pid (\d+)$/;

function rows(p: ShardgateChild): Row[] {
  const out: Row[] = [];
  for (const l of p.textLines) {
    const m = ROW.exec(l);
    if (m !== null) out.push({ id: m[1], role: m[2], proxy: m[3], admin: m[4], pid: Number(m[5]) });
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to `timeoutMs` for every pid to exit; returns the ones still alive. */
async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  await eventuallyTrue(() => !pids.some(alive), timeoutMs, 50);
  return pids.filter(alive);
}

/** Pids of processes whose command line mentions `text` (the demo's instances name their config path). */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function startDemo(extra: string[] = []): Promise<{ p: ShardgateChild; fleet: Row[]; state: string }> {
  const p = new ShardgateChild(["demo", "--port", "0", "--admin-port", "0", "--raft-port", "0", ...extra]);
  await p.waitFor("the dashboard line", () => p.textLines.find((l) => l.startsWith("Dashboard: ")), 60_000);
  const fleet = rows(p);
  for (const r of fleet) started.push(r.pid);
  const stateLine = p.textLines.find((l) => /^\s+state\s/.test(l)) ?? "";
  const state = (/^\s+state\s+(\S+)/.exec(stateLine) ?? [])[1] ?? "";
  return { p, fleet, state };
}

/** Every instance pid seen: the instances run in their own process groups, so a failed test kills them here. */
const started: number[] = [];

describe("shardgate demo: the fleet", () => {
  after(async () => {
    await stopAll();
    for (const pid of started.filter(alive)) process.kill(pid, "SIGKILL");
  });

  test("serves through every instance with one agreed leader, and SIGINT stops it all", async () => {
    const { p, fleet, state } = await startDemo();
    assert.deepEqual(
      fleet.map((r) => `${r.id}:${r.role}`),
      ["a:voter", "b:voter", "c:voter", "d:learner"],
      p.output(),
    );
    assert.ok(existsSync(state), `state dir ${state} exists while running`);
    const dash = p.textLines.find((l) => l.startsWith("Dashboard: ")) ?? "";
    assert.match(dash, new RegExp(`${fleet[0].admin}/ui$`));

    const leaders = new Set<string>();
    for (const r of fleet) {
      const s = await fetchJson(`${r.admin}/admin/state`);
      assert.equal(s.status, 200, s.text);
      const raft = (s.body as { raft: { leader: string; learners: string[] } }).raft;
      leaders.add(raft.leader);
      assert.deepEqual(raft.learners, ["d"], `${r.id}: ${s.text}`);
    }
    assert.equal(leaders.size, 1, `one leader named by all: ${[...leaders]}`);
    const [leader] = leaders;
    assert.ok(["a", "b", "c"].includes(leader));
    assert.match(p.textLines.join("\n"), new RegExp(`leader\\s+${leader}`));

    const members = new Set<string>();
    for (const r of fleet) {
      const res = await fetchJson(`${r.proxy}/`, { headers: { "x-user-id": "alice" } });
      assert.equal(res.status, 200, res.text);
      members.add((res.body as { member: string }).member);
    }
    assert.equal(members.size, 1, `alice reaches one upstream through every instance: ${[...members]}`);

    const pids = fleet.map((r) => r.pid);
    p.signal("SIGINT");
    assert.deepEqual(await p.waitExit(30_000), { code: 0, signal: null }, p.output());
    assert.deepEqual(await waitGone(pids, 5_000), [], "no instance outlives the demo");
    assert.ok(!existsSync(state), `temp state ${state} removed`);
    assert.ok(
      p.textLines.some((l) => l.includes("shardgate demo: stopped")),
      p.output(),
    );
  });

  test("--data-dir keeps the state after stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-demo-keep-"));
    try {
      const { p, fleet, state } = await startDemo(["--data-dir", dir]);
      assert.equal(state, dir, p.output());
      p.signal("SIGINT");
      assert.deepEqual(await p.waitExit(30_000), { code: 0, signal: null }, p.output());
      assert.deepEqual(
        await waitGone(
          fleet.map((r) => r.pid),
          5_000,
        ),
        [],
      );
      assert.deepEqual(
        readdirSync(dir)
          .filter((f) => !f.endsWith(".log"))
          .sort(),
        ["a", "b", "c", "d"],
      );
      assert.ok(existsSync(join(dir, "a", "data")), "instance a's Raft data is kept");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("SIGINT while the fleet is still starting stops every instance it started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-demo-early-"));
    try {
      const p = new ShardgateChild([
        "demo",
        "--port",
        "0",
        "--admin-port",
        "0",
        "--raft-port",
        "0",
        "--data-dir",
        dir,
      ]);
      // The instances' configs are written just before they are spawned.
      // Polled (waitFor re-probes only when the process prints, and it prints nothing until ready).
      await eventually(
        "the instances' config files",
        () => (existsSync(join(dir, "d", "shardgate.yaml")) ? true : undefined),
        30_000,
        5,
      );
      const early = processesMentioning(dir);
      p.signal("SIGINT");
      assert.deepEqual(await p.waitExit(30_000), { code: 0, signal: null }, p.output());
      assert.match(p.output(), /stopping the fleet/);
      const left = await waitGone(processesMentioning(dir), 5_000);
      assert.deepEqual(left, [], `instances started before the signal (${early.join(",")}) are all gone`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
