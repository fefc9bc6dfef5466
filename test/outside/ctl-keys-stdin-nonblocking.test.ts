// `shardgate ctl route POOL --keys-file -` whose standard input is non-blocking (a descriptor
// shared with a process that set O_NONBLOCK on it: a terminal a program left so, a pipe its
// producer made non-blocking), tried from the outside against a real shardgate. Standard input
// was read with synchronous reads, and a non-blocking one with nothing in it yet failed the first
// read: ctl said `--keys-file - (stdin): EAGAIN: resource temporarily unavailable`, exit 2, for
// keys that were on their way. Now it waits for them. Node makes a child's standard input
// blocking as it spawns it, so perl sets O_NONBLOCK on it and execs ctl; the keys are written a
// seeded few hundred ms later.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, test } from "node:test";
import { reapOnExit } from "../support/child-reaper.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, shardgateArgv, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const seed = testSeed(20_261_213);
const note = seedNote(seed);
/** Makes standard input non-blocking, then runs the rest of its arguments in its place. */
const NONBLOCKING_STDIN =
  "use Fcntl; fcntl(STDIN, F_SETFL, fcntl(STDIN, F_GETFL, 0) | O_NONBLOCK) or die; exec @ARGV or die";
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

test("ctl route --keys-file - waits for keys on a non-blocking standard input", {
  skip: spawnSync("perl", ["-e", "1"]).status === 0 ? false : "no perl to make standard input non-blocking",
}, async () => {
  ups = await startUpstreams(1, "nb");
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
  );
  const argv = shardgateArgv(["ctl", "--admin", sg.adminUrl, "route", "users", "--keys-file", "-"]);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.SHARDGATE_ADMIN_TOKEN;
  const child = reapOnExit(
    spawn("perl", ["-e", NONBLOCKING_STDIN, argv.command, ...argv.args], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  child.stdin?.on("error", () => {}); // ctl gone before the keys (it failed the read): said below
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const delay = 200 + Math.floor(seededRandom(seed)() * 400);
  await new Promise((r) => setTimeout(r, delay));
  child.stdin?.end("a\nb\n");
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), scaled(30_000));
    child.on("close", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const said = `keys written after ${delay} ms: exit ${code}\n${stdout.slice(0, 500)}\n${stderr.slice(0, 800)}\n${note}`;
  assert.doesNotMatch(stderr, /EAGAIN/, `no EAGAIN\n${said}`);
  assert.equal(code, 0, `the keys are routed\n${said}`);
  assert.match(stdout, /\ba\b[\s\S]*\bb\b/, `a row per key\n${said}`);
});
