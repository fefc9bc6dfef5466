// A newcomer reads the README's "Two commands", runs `npm start`, and pastes the block of
// commands the README shows next to it. Found from the outside in a fresh clone: the block said
// `shardgate ctl --admin http://127.0.0.1:9902 drain demo u1`, which fails twice as pasted:
// `shardgate` is not on PATH until `npm link` (sh: shardgate: not found, exit 127), and a drain
// needs the demo's admin token, which the block never exported. The block now runs as the demo
// prints it. Here it runs as one shell script, in a shell whose PATH has node but no shardgate,
// from the repository root, against the fleet demo on free ports: the README's default ports
// (8080-8083, 9901-9904) are mapped to the demo's, its placeholders (`<...>`) to the token and
// the leader's pid the demo prints. Then what the block promises: u1 drained on every instance,
// a new leader, requests still answered.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { newcomerSh, startDemo } from "../support/demo-shell.js";
import { eventually, stopAll } from "../support/shardgate-process.js";

after(stopAll);

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** From the repository root, where the README's commands are run. */
const sh = (script: string) => newcomerSh(script, ROOT);

/** The README's "Two commands" section: its second sh block, the commands run against the demo. */
function readmeDemoBlock(): string {
  const readme = readFileSync(`${ROOT}README.md`, "utf8");
  const start = readme.indexOf("\n## Two commands\n");
  const end = readme.indexOf("\n## ", start + 1);
  assert.ok(start >= 0 && end > start, "README has a Two commands section");
  const blocks = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 2, "Two commands shows the two commands, then what to run against the demo");
  return blocks[1];
}

interface Instance {
  id: string;
  proxy: number;
  admin: number;
  pid: number;
}

test("the README's demo commands run as written against `shardgate demo`", { timeout: 240_000 }, async () => {
  assert.notEqual(sh("command -v shardgate").code, 0, "this PATH must not have shardgate (npm link)");
  const { demo, lines } = await startDemo();
  const instances: Instance[] = [];
  for (const l of lines) {
    const m =
      /^([a-z])\s+(?:voter|learner)\s+proxy http:\/\/127\.0\.0\.1:(\d+)\s+admin http:\/\/127\.0\.0\.1:(\d+)\s+raft \S+\s+pid (\d+)$/.exec(
        l,
      );
    if (m) instances.push({ id: m[1], proxy: Number(m[2]), admin: Number(m[3]), pid: Number(m[4]) });
  }
  assert.equal(instances.length, 4, demo.output());
  const leaderId = /^leader\s+([a-z])$/.exec(lines.find((l) => l.startsWith("leader ")) ?? "")?.[1];
  const leader = instances.find((i) => i.id === leaderId);
  assert.ok(leader !== undefined, `the banner names the leader\n${demo.output()}`);
  const token = /^export SHARDGATE_ADMIN_TOKEN=(\S+)$/.exec(
    lines.find((l) => l.startsWith("export SHARDGATE_ADMIN_TOKEN=")) ?? "",
  )?.[1];
  assert.ok(token !== undefined, demo.output());

  // The README as written, on the demo's ports, with its placeholders filled from the banner.
  let script = readmeDemoBlock();
  for (const [i, inst] of instances.entries())
    script = script
      .replaceAll(`127.0.0.1:${8080 + i}`, `127.0.0.1:${inst.proxy}`)
      .replaceAll(`127.0.0.1:${9901 + i}`, `127.0.0.1:${inst.admin}`);
  // A placeholder names what to put there: the token or the leader's pid, both in the banner.
  script = script.replace(/<([^>]*)>/g, (p, what: string) =>
    /token/i.test(what) ? token : /pid/i.test(what) ? String(leader.pid) : p,
  );
  assert.doesNotMatch(script, /<[^>]*>/, `a placeholder the banner does not fill:\n${script}`);
  const r = sh(`set -e\n${script}`);
  assert.equal(r.code, 0, `the README's block failed as pasted:\n${script}\n${r.out}`);
  assert.match(r.out, /"member":"u\d"/, r.out);
  assert.match(r.out, /demo\/u1: draining \(committed, ring version \d+\)/, r.out);

  // What the block promises: the leader is gone, another is elected, every survivor has u1
  // drained, and requests are answered.
  const survivors = instances.filter((i) => i !== leader);
  await eventually(
    `a leader other than ${leader.id}`,
    async () => {
      const s = (await (await fetch(`http://127.0.0.1:${survivors[0].admin}/admin/state`)).json()) as {
        raft?: { leader?: string };
      };
      return s.raft?.leader !== undefined && s.raft.leader !== leader.id ? true : undefined;
    },
    30_000,
  );
  for (const inst of survivors) {
    const s = (await (await fetch(`http://127.0.0.1:${inst.admin}/admin/state`)).json()) as {
      pools: Record<string, { members: Array<{ id: string; draining: boolean }> }>;
    };
    assert.equal(s.pools.demo.members.find((m) => m.id === "u1")?.draining, true, `u1 drained on ${inst.id}`);
    const res = await fetch(`http://127.0.0.1:${inst.proxy}/`, { headers: { "x-user-id": "alice" } });
    assert.equal(res.status, 200, `a request through ${inst.id}`);
    await res.arrayBuffer();
  }
  demo.signal("SIGINT");
  assert.deepEqual(await demo.waitExit(30_000), { code: 0, signal: null }, demo.output());
});
