// httpRequest's timeout is a base value scaled by TEST_TIME_SCALE, like every other wait
// (wait.ts `scaled`): on a machine slow enough to need TEST_TIME_SCALE=3, the fleet tests'
// client must not give up on an instance that answers late. It used the milliseconds as given
// (kubernetes-discovery at load 40: "no answer within 5000ms").
//
// TIME_SCALE is read once when wait.ts loads, so a child Node process with its own
// TEST_TIME_SCALE sends the request: a server on loopback that answers 300 ms late, met with
// a 20 ms base timeout scaled by 1000, must be waited for; the same request unscaled times out.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";

const HTTP_CLIENT = new URL("./cluster/http-client.js", import.meta.url).href;

const CHILD = `
import { createServer } from "node:http";
import { httpRequest } from ${JSON.stringify(HTTP_CLIENT)};
const server = createServer((_req, res) => setTimeout(() => res.end("late"), 300));
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const out = await httpRequest("http://127.0.0.1:" + server.address().port + "/", { timeoutMs: 20 }).then(
  (r) => ({ status: r.status, text: r.text }),
  (err) => ({ error: String(err) }),
);
server.close();
console.log(JSON.stringify(out));
`;

function runChild(scale: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ["--input-type=module", "-e", CHILD],
      { env: { ...process.env, TEST_TIME_SCALE: scale }, timeout: 120_000 },
      (err, stdout, stderr) =>
        err === null
          ? resolve(JSON.parse(stdout.trim()) as Record<string, unknown>)
          : reject(new Error(`${String(err)}\n${stderr}`)),
    ),
  );
}

test("httpRequest's timeout is multiplied by TEST_TIME_SCALE", async () => {
  assert.deepEqual(
    await runChild("1000"),
    { status: 200, text: "late" },
    "a 20 ms base timeout scaled to 20 s outlasts the 300 ms server",
  );
  const unscaled = await runChild("1");
  assert.match(String(unscaled.error), /no answer within 20ms/, "unscaled, 20 ms is 20 ms");
});
