// The wall clock steps back while the admin port refuses connections (every one busy with a
// request, admin.maxConnections): shardgate warns at most once per 10 s so a flood does not
// become a log flood. Tried from the outside on a real shardgate under libfaketime. Found on the
// old code: the 10 s were measured with Date.now(), so after a -1h step the warning was silenced
// for the hour while refusals went on. Now measured on the monotonic clock. The interval's length
// is not what is tried: shardgate runs with it shortened (SHARDGATE_TEST_ADMIN_LOG_EVERY_MS).

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { rawSession } from "../support/raw-socket.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const missing = clockStepMissing();
const TOKEN = "clock-admin-log-token";
const CAP = 2;
/** The admin listener's warning interval shardgate runs with (10 s by default, proxy/admin/server.ts). */
const WARN_EVERY_MS = 2_000;
const WARNING = "admin connection refused";

let clock: ClockStep;
let sg: RunningShardgate;
const busy: Socket[] = [];

before(async () => {
  if (missing !== undefined) return;
  clock = new ClockStep();
  sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0, timeouts: { headers: 60s, request: 10m, idle: 10m } }
admin: { token: "${TOKEN}", maxConnections: ${CAP} }
log: { level: info, accessLog: false }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:9" }]
routes:
  - { pool: users, key: [header:x-k] }
`,
    { env: { ...clock.env, SHARDGATE_TEST_ADMIN_LOG_EVERY_MS: String(WARN_EVERY_MS) } },
  );
});

after(async () => {
  for (const s of busy) s.destroy();
  await stopAll();
  clock?.remove();
});

/** A breaker override whose body never finishes: held by the server once it says 100 Continue. */
async function holdBusy(port: number): Promise<void> {
  const s = connect(port, "127.0.0.1");
  busy.push(s);
  s.on("error", () => {});
  let reply = "";
  s.on("data", (d: Buffer) => {
    reply += d.toString("latin1");
  });
  s.write(
    "POST /admin/pools/users/members/m1/breaker HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" +
      `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"st`,
  );
  await eventually("100 Continue on a busy admin request", () =>
    reply.startsWith("HTTP/1.1 100") ? true : undefined,
  );
}

/** One connection past the cap: answered 503 too_many_connections. */
async function refused(port: number): Promise<void> {
  const r = await rawSession(port, 10_000, (s) => s.write("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match(r.reply, /^HTTP\/1\.1 503 /, r.reply);
}

const warnings = (): number => sg.proc.lines.filter((l) => String(l.msg).startsWith(WARNING)).length;

test("the admin refused-connection warning is not silenced by a -1h step", {
  skip: missing,
  timeout: 300_000,
}, async () => {
  const port = Number(new URL(sg.adminUrl).port);
  for (let i = 0; i < CAP; i++) await holdBusy(port);
  await refused(port);
  await sg.proc.waitForLine("the first refusal warning", (l) => String(l.msg).startsWith(WARNING));
  assert.equal(warnings(), 1);
  clock.step("-1h");
  try {
    // Refusals go on, four a second: the next warning is due WARN_EVERY_MS after the first. The
    // old code said nothing more for the hour.
    const bound = scaled(WARN_EVERY_MS + 30_000);
    const start = performance.now();
    while (warnings() < 2) {
      assert.ok(
        performance.now() - start < bound,
        `no second "${WARNING}" warning within ${bound} ms of refusals after a -1h step`,
      );
      await refused(port);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    clock.step("+0");
  }
});
