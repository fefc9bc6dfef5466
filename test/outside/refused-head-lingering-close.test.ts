// A head Node's parser refuses (a request line past 8 KB: 414, headers past the limit: 431) with
// the client still sending it, tried from the outside on a real shardgate, proxy port and admin
// port. client-error.ts answers and lingers, but Node's parser stays on the socket and reports
// the same error again for every chunk that arrives after it; the second report found the socket
// no longer writable and destroyed it with the client's bytes unread: the kernel sent RST, and
// a client that reads its answer only after its last write (late-reader.ts) lost the 414 or 431
// to a reset from about 200 KB sent on. `shardgate ctl route POOL KEY` with a 4 MB key said
// `cannot reach the admin API at URL: ECONNRESET`, the address blamed for a key too long. Now a
// report on a connection already answered and lingering is dropped (it neither closes it nor
// counts again), and the lingering close's bounds end the connection. Sizes are seeded, each
// round is bounded; the proxy serves a request after the rounds.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { uploadThenRead } from "../support/late-reader.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const seed = testSeed(20_261_210);
const note = seedNote(seed);
const MIB = 1024 * 1024;
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

// A request line is 414 when the packet that overflows starts it, else 431 (client-error.ts):
// the head written apart from the rest makes either possible here, and both are the answer.
const SHAPES = [
  { status: "414|431", head: "GET /?k=" },
  { status: "431", head: "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: " },
] as const;

test("a head refused while it still arrives is answered, not reset, on both ports", async () => {
  ups = await startUpstreams(1, "rh");
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
  );
  const ports = { proxy: Number(new URL(sg.httpUrl).port), admin: Number(new URL(sg.adminUrl).port) };
  const random = seededRandom(seed);
  for (const [name, port] of Object.entries(ports)) {
    for (const shape of SHAPES) {
      // 1-4 MiB: well past the few hundred KB from which the old code reset.
      const size = MIB + Math.floor(random() * 3 * MIB);
      const r = await uploadThenRead({ port, head: shape.head, size, giveUpMs: 40_000 });
      const what = `${name} port, ${shape.status} shape, ${size} bytes: reply ${JSON.stringify(r.reply.slice(0, 80))}, error ${r.writeError || "none"}\n${note}`;
      assert.match(r.reply, new RegExp(`^HTTP/1\\.1 (${shape.status}) `), `the answer arrives\n${what}`);
      assert.equal(r.writeError, "", `no reset\n${what}`);
    }
  }

  // The operator's view: a key too long for any admin request is named so, not an unreachable address.
  // (On standard input: one argument is at most 128 KiB.)
  const key = "k".repeat(4 * MIB);
  const ctl = await runCtl(
    ["--admin", sg.adminUrl, "route", "users", "--keys-file", "-"],
    {},
    60_000,
    `${key}\n`,
  );
  const said = `exit ${ctl.code}\n${ctl.stderr.slice(0, 600)}\n${note}`;
  assert.equal(ctl.code, 1, said);
  assert.match(
    ctl.stderr,
    /as too long \((414 uri_too_long|431 headers_too_large)\)/,
    `says the key is too long\n${said}`,
  );
  assert.doesNotMatch(ctl.stderr, /cannot reach/, `does not blame the address\n${said}`);

  const served = await fetchJson(`${sg.httpUrl}/after`, { headers: { "x-user-id": "u" } });
  assert.equal(served.status, 200, `the proxy still serves\n${sg.proc.output()}\n${note}`);
});
