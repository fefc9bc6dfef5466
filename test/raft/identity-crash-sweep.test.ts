// "A crash at any instant" around the cluster id being fixed: a real process running three Raft
// drivers (test/raft/identity-crash-child.ts, fsync on) is killed with SIGKILL after a seeded
// delay from its start (before, while and after the first leader commits the level entry that
// fixes the id and each member writes identity.json), then started again on the same data.
// Every start must succeed (no refusal, no unreadable identity.json), every node end with the
// same id, and each identity.json name it. Bounded: SWEEPS runs, each within its own deadline.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePorts } from "../support/ports.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { scaled } from "../support/wait.js";

const SEED = testSeed(1205);
const SWEEPS = 12;
const MAX_DELAY_MS = 900;
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "identity-crash-child.js");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-identity-crash-"));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
  fs.rmSync(root, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<void>;
}

function run(dir: string, peers: Record<string, string>): Run {
  const child = spawn(process.execPath, [CHILD, dir, JSON.stringify(peers)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let text = "";
  child.stdout?.on("data", (b: Buffer) => {
    text += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    text += b.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => children.delete(child));
  return { child, out: () => text, exited };
}

function idsIn(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const [, node, id] of text.matchAll(/^ID (\S+) (\S+)$/gm)) m.set(node, id);
  return m;
}

test("kill -9 at any instant around the id being fixed: every restart agrees on one id", async () => {
  const random = seededRandom(SEED);
  const delays: number[] = [];
  let fixedBeforeKill = 0;
  for (let i = 0; i < SWEEPS; i++) {
    const ports = await freePorts(3);
    const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, c: `127.0.0.1:${ports[2]}` };
    const dir = path.join(root, `run-${i}`);
    const delay = Math.floor(random() * MAX_DELAY_MS);
    delays.push(delay);
    const first = run(dir, peers);
    await new Promise((r) => setTimeout(r, delay));
    first.child.kill("SIGKILL");
    await first.exited;
    const note = `run ${i}, killed after ${delay} ms (${seedNote(SEED)})`;
    const second = run(dir, peers);
    const deadline = Date.now() + scaled(30_000);
    try {
      while (idsIn(second.out()).size < 3 && !second.out().includes("FAILED")) {
        assert.ok(Date.now() < deadline, `all three hold an id after the restart: ${note}\n${second.out()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(!second.out().includes("FAILED"), `a start was refused: ${note}\n${second.out()}`);
      const ids = new Set(idsIn(second.out()).values());
      assert.equal(ids.size, 1, `one cluster id: ${note}\n${second.out()}`);
      const [id] = ids;
      // What a node announced, it persisted first (driver.persistCluster): each file names it.
      for (const n of ["a", "b", "c"]) {
        const file = JSON.parse(fs.readFileSync(path.join(dir, n, "identity.json"), "utf8")) as {
          cluster?: string;
        };
        assert.equal(file.cluster, id, `${n}'s identity.json: ${note}`);
      }
      if (idsIn(first.out()).size > 0) fixedBeforeKill++;
      if (idsIn(first.out()).size > 0)
        assert.ok(
          [...idsIn(first.out()).values()].every((x) => x === id),
          `the id announced before the kill survives it: ${note}\n${first.out()}`,
        );
    } finally {
      second.child.kill("SIGKILL");
      await second.exited;
    }
  }
  // Where the kills fell: before any node announced the id, or after (then it must survive).
  process.stdout.write(
    `# kill delays (ms): ${delays.join(" ")}; id announced before the kill in ${fixedBeforeKill}/${SWEEPS} runs, ${seedNote(SEED)}\n`,
  );
});
