// The README's "3-node fleet on one machine" commands, run as written (only the ports swapped for
// free loopback ones): the founding starts carry --bootstrap on every voter of fleet.yaml and
// found one cluster; the later start shown (b restarted) leaves --bootstrap out and rejoins it
// as the same voter. Before, the block passed --bootstrap to all three under a comment saying
// "only on the very first start" and showed no later start, so the text and the commands
// disagreed on what a restart looks like.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse } from "yaml";
import type { StateView } from "../support/cluster/admin-views.js";
import { freePorts } from "../support/ports.js";
import { fetchJson, ShardgateChild } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-readme-fleet-"));
const procs: ShardgateChild[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

interface StartLine {
  env: Record<string, string>;
  args: string[];
  id: string;
}

/** `VAR=v ... node dist/proxy/cli.js start ARGS [&]` lines of a shell block, in order. */
function startLines(block: string): Array<StartLine & { at: number }> {
  const out: Array<StartLine & { at: number }> = [];
  for (const [at, line] of block.split("\n").entries()) {
    const m = /^((?:[A-Z_]+=\S+ )*)node dist\/proxy\/cli\.js (start .*?)(?: &)?$/.exec(line.trim());
    if (m === null) continue;
    const env = Object.fromEntries(
      m[1]
        .trim()
        .split(/\s+/)
        .filter((x) => x !== "")
        .map((kv) => kv.split("=") as [string, string]),
    );
    const args = m[2].split(/\s+/);
    out.push({ env, args, id: args[args.indexOf("--node-id") + 1], at });
  }
  return out;
}

test("the README's 3-node fleet: --bootstrap on each founding voter's first start, never on a later one", async () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const shAt = readme.indexOf("node dist/proxy/cli.js start --config fleet.yaml --node-id a");
  assert.ok(shAt > 0, "the README has no 3-node fleet commands");
  const blockStart = readme.lastIndexOf("```sh\n", shAt);
  const block = readme.slice(blockStart + 6, readme.indexOf("```", shAt));
  const yamlStart = readme.lastIndexOf("```yaml\n", blockStart);
  const yaml = readme.slice(yamlStart + 8, readme.indexOf("```", yamlStart + 8));
  const cluster = (
    parse(yaml) as { cluster: { voters?: string[]; peers: Array<{ id: string; address: string }> } }
  ).cluster;
  // Without `voters`, every peer is a voter.
  const voters = cluster.voters ?? cluster.peers.map((p) => p.id);

  const lines = startLines(block);
  const firstCurl = block.split("\n").findIndex((l) => l.startsWith("curl "));
  const founding = lines.filter((l) => l.at < firstCurl);
  const later = lines.filter((l) => l.at > firstCurl);
  assert.deepEqual(
    founding.map((l) => l.id).sort(),
    [...voters].sort(),
    "one founding start per voter of fleet.yaml",
  );
  for (const l of founding)
    assert.ok(l.args.includes("--bootstrap"), `founding start of ${l.id}: ${l.args.join(" ")}`);
  assert.ok(later.length >= 1, "the README shows no later start (a restart)");
  for (const l of later)
    assert.ok(!l.args.includes("--bootstrap"), `later start of ${l.id}: ${l.args.join(" ")}`);

  // Run them: the README's fixed ports become free loopback ones.
  const ports = await freePorts(9);
  const swap = new Map<string, string>();
  let next = 0;
  for (const peer of cluster.peers) swap.set(peer.address.split(":")[1], String(ports[next++]));
  for (const l of lines)
    for (const k of ["HTTP_PORT", "ADMIN_PORT"])
      if (!swap.has(l.env[k])) swap.set(l.env[k], String(ports[next++]));
  assert.ok(next <= ports.length, `${next} ports needed`);
  writeFileSync(
    join(dir, "fleet.yaml"),
    yaml.replace(/127\.0\.0\.1:(\d{4,5})/g, (all, p: string) =>
      swap.has(p) ? `127.0.0.1:${swap.get(p)}` : all,
    ),
  );
  const env = (l: StartLine) => ({
    SHARDGATE_CLUSTER_SECRET: "0123456789abcdef0123456789abcdef",
    SHARDGATE_ADMIN_TOKEN: "dev-token-0123456789",
    HTTP_PORT: swap.get(l.env.HTTP_PORT) as string,
    ADMIN_PORT: swap.get(l.env.ADMIN_PORT) as string,
  });
  const start = (l: StartLine) => {
    const p = new ShardgateChild(l.args, { cwd: dir, env: env(l) });
    procs.push(p);
    return p;
  };
  const running = new Map<string, ShardgateChild>();
  for (const l of founding) running.set(l.id, start(l));
  const output = () => [...running].map(([id, p]) => `--- ${id}\n${p.output().slice(-3000)}`).join("\n");
  const stateOf = async (l: StartLine) =>
    (await fetchJson(`http://127.0.0.1:${env(l).ADMIN_PORT}/admin/state`)).body as StateView;
  const oneLeader = (what: string) =>
    eventually(
      what,
      async () => {
        const states = await Promise.all(founding.map(stateOf));
        const leaders = new Set(states.map((s) => s.raft?.leader));
        const [leader] = leaders;
        const agreed = leaders.size === 1 && typeof leader === "string" && leader !== "";
        return agreed && states.every((s) => s.raft.voters.length === voters.length) ? leader : undefined;
      },
      60_000,
      100,
    ).catch((err) => assert.fail(`${String(err)}\n${output()}`));
  await oneLeader("the founding voters agree on one leader");

  for (const l of later) {
    const was = running.get(l.id);
    assert.ok(was !== undefined);
    await was.stop();
    const p = start(l);
    running.set(l.id, p);
    await oneLeader(`${l.id} restarted without --bootstrap rejoins`);
    const s = await stateOf(l);
    assert.ok(s.raft.voters.includes(l.id), `${l.id} is still a voter\n${output()}`);
    assert.ok(!p.exit, `${l.id} exited\n${output()}`);
  }
});
