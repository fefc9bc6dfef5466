// The Consul watcher alone in a process (bench/consul-idle/bench.ts starts it): it watches
// one service and, for each line on stdin, prints its process CPU, the CPU spent inside the
// answer splitter and the watcher's apply (the code of ours an answer runs), and the answers
// seen so far. "q" stops it.

import { consulAgentSchema, poolConsulSchema } from "../../config/file/schema.js";
import { AnswerReader } from "../../health/consul-answer-cache.js";
import { ConsulWatcher } from "../../health/consul-watcher.js";

const [address, service] = process.argv.slice(2);
let ours = 0;
let answers = 0;

/** Wraps `obj[key]` (a method) to add its CPU to `ours` (and count its calls when `count`). */
function timed(obj: Record<string, unknown>, key: string, count: boolean): void {
  const f = obj[key] as (...a: unknown[]) => unknown;
  obj[key] = function (this: unknown, ...a: unknown[]) {
    if (count) answers++;
    const t = process.cpuUsage();
    try {
      return f.apply(this, a);
    } finally {
      const u = process.cpuUsage(t);
      ours += (u.user + u.system) / 1000;
    }
  };
}

const proto = AnswerReader.prototype as unknown as Record<string, unknown>;
timed(proto, "push", false);
timed(proto, "end", false);
const watcher = new ConsulWatcher({
  discovery: poolConsulSchema.parse({ service }),
  agent: consulAgentSchema.parse({ address: `http://${address}`, wait: 10_000, rateLimit: 50 }),
  rateBurst: 10,
});
// apply() is private: the bench reaches it to count answers and time the diff.
timed(watcher as unknown as Record<string, unknown>, "apply", true);
watcher.start();
await watcher.whenSynced();
process.stdout.write(`synced ${watcher.members().length}\n`);
process.stdin.on("data", (d) => {
  const u = process.cpuUsage();
  process.stdout.write(`${(u.user + u.system) / 1000} ${ours} ${answers}\n`);
  if (String(d).includes("q")) void watcher.stop().then(() => process.exit(0));
});
