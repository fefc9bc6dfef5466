// rawSession's deadline is a base value scaled by TEST_TIME_SCALE, like every other wait
// (wait.ts `scaled`): on a machine slow enough to need TEST_TIME_SCALE=3, a raw exchange must
// not give up on a peer that answers late. It used the milliseconds as given.
//
// TIME_SCALE is read once when wait.ts loads, so a child Node process with its own
// TEST_TIME_SCALE runs the session: a peer on loopback that closes 300 ms after the connect,
// met with a 20 ms base deadline scaled by 1000, must be seen closing it.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";

const RAW_SOCKET = new URL("./raw-socket.js", import.meta.url).href;

const CHILD = `
import { createServer } from "node:net";
import { rawSession } from ${JSON.stringify(RAW_SOCKET)};
const server = createServer((s) => {
  s.on("error", () => {});
  setTimeout(() => s.end("late"), 300);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const r = await rawSession(server.address().port, 20, () => {});
server.close();
console.log(JSON.stringify(r));
`;

test("rawSession's deadline is multiplied by TEST_TIME_SCALE", async () => {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ["--input-type=module", "-e", CHILD],
      { env: { ...process.env, TEST_TIME_SCALE: "1000" }, timeout: 120_000 },
      (err, stdout, stderr) =>
        err === null ? resolve(stdout) : reject(new Error(`${String(err)}\n${stderr}`)),
    ),
  );
  const r = JSON.parse(out.trim()) as { reply: string; closedByPeer: boolean };
  assert.deepEqual(
    r,
    { reply: "late", closedByPeer: true },
    "a 20 ms base deadline scaled to 20 s outlasts the 300 ms peer",
  );
});
