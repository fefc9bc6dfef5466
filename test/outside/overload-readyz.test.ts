// Tried from the outside: /readyz said 503 "overloaded" as soon as a process shed (limits.shedAt).
// When a traffic peak takes every instance of a fleet past shedAt at once, every /readyz fails,
// a Kubernetes Service is left with no ready endpoint, and all traffic fails where shedding
// instances would still have served part of it. Now (proxy/app/admin-backend.ts, README "Memory
// overload") a shedding instance stays ready (200, degraded, reason "overloaded") and only one
// past limits.refuseAt, which refuses new connections anyway, answers 503.
//
// A real shardgate process whose budget puts its idle footprint (about 100 MB measured here)
// steadily inside one level: limits.memory 256 MB with shedAt 0.2 (shedding from the first
// sample, refuseAt 1.0 far off), then 16 MB (every threshold passed). No load is needed.
// Every socket and process started here is stopped.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, test } from "node:test";
import { tearDownOutside } from "../support/outside-teardown.js";
import { fetchJson, poolConfig, startShardgate } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

let member: Server | undefined;

after(() => tearDownOutside({ member }));

async function memberPort(): Promise<number> {
  if (member === undefined) {
    const m = createServer((_req, res) => res.end("ok"));
    member = m;
    await new Promise<void>((resolve) => m.listen(0, "127.0.0.1", resolve));
  }
  const address = member.address();
  assert.ok(address !== null && typeof address === "object");
  return address.port;
}

function config(port: number, limits: string): string {
  return poolConfig({ members: [{ id: "m1", port }], accessLog: false }).replace(
    "pools:\n",
    `${limits}pools:\n`,
  );
}

async function overloadState(adminUrl: string): Promise<string> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return /^shardgate_overload_state (\d)$/m.exec(text)?.[1] ?? `none in ${text.length} bytes`;
}

test("a shedding instance stays ready (degraded, reason overloaded): it still serves what memory allows", async () => {
  const sg = await startShardgate(
    config(await memberPort(), "limits:\n  memory: 256mb\n  shedAt: 0.2\n  refuseAt: 1\n"),
    {
      waitReady: false,
    },
  );
  const state = await overloadState(sg.adminUrl);
  assert.equal(state, "1", "the process sheds from its first sample (idle footprint over 20 % of 256 MB)");
  const ready = await eventually("/readyz with a committed state", async () => {
    const r = await fetchJson(`${sg.adminUrl}/readyz`);
    return (r.body as { reason?: string }).reason === "no_committed_state" ? undefined : r;
  });
  assert.equal(ready.status, 200, `/readyz while shedding: ${JSON.stringify(ready.body)}`);
  assert.deepEqual(ready.body, { ready: true, degraded: true, reason: "overloaded" });
  // It does shed: a new request is answered 503 overloaded.
  const res = await fetch(`${sg.httpUrl}/x`, { headers: { "x-user-id": "u" } });
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { error?: string }).error, "overloaded");
  assert.equal((await sg.stop()).code, 0);
});

test("an instance past limits.refuseAt is not ready: /readyz 503 overloaded", async () => {
  const sg = await startShardgate(
    config(await memberPort(), "limits:\n  memory: 16mb\n  shedAt: 0.5\n  refuseAt: 0.9\n"),
    {
      waitReady: false,
    },
  );
  assert.equal(await overloadState(sg.adminUrl), "2", "the process refuses from its first sample");
  const ready = await eventually("/readyz with a committed state", async () => {
    const r = await fetchJson(`${sg.adminUrl}/readyz`);
    return (r.body as { reason?: string }).reason === "no_committed_state" ? undefined : r;
  });
  assert.equal(ready.status, 503);
  assert.equal((ready.body as { reason?: string }).reason, "overloaded");
  assert.equal((await sg.stop()).code, 0);
});
