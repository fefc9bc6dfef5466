// Hostile/operator: a shardgate process opens only the listeners something needs (issue 10,
// item 6): without a cluster section (or with one that has no peers) there is no Raft listener,
// only the proxy and admin ports. Counted from outside: the process's sockets in LISTEN state.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { after, test } from "node:test";
import { startShardgate, stopAll } from "../support/shardgate-process.js";

after(stopAll);

/** Local ports of the TCP sockets process `pid` holds in LISTEN state (Linux /proc). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) inodes.add(m[1]);
    } catch {
      // the fd closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A") continue; // 0A = LISTEN
      if (inodes.has(f[9])) ports.push(Number.parseInt(f[1].split(":")[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

const BODY = `log: { level: info, accessLog: false }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:1" }]
routes:
  - pool: users
    key: [header:x-user-id]
`;

for (const [name, extra] of [
  ["no cluster section", ""],
  ["a cluster section without peers or listen", "cluster: { id: solo, dataDir: DATA }\n"],
] as const) {
  test(`${name}: only the proxy and admin listeners`, { timeout: 60_000 }, async (t) => {
    const dataDir = `${process.env.TMPDIR ?? "/tmp"}/sg-listeners-${process.pid}-${Date.now()}`;
    const sg = await startShardgate(
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n${extra.replace("DATA", dataDir)}${BODY}`,
      { waitReady: false },
    );
    t.after(() => sg.stop());
    const ports = listeningPorts(sg.proc.child.pid as number);
    const expected = [Number(new URL(sg.httpUrl).port), Number(new URL(sg.adminUrl).port)].sort(
      (a, b) => a - b,
    );
    assert.deepEqual(ports, expected, `listening ports ${ports.join(", ")}`);
    const line = sg.proc.lines.find((l) => l.msg === "listening");
    assert.equal(line?.raft, "none");
  });
}
