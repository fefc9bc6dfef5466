// A Raft peer named by a hostname is resolved through the lookup passed to the transport (the
// process passes its bounded one; Node's default is getaddrinfo on libuv's thread pool), and a
// failed or hung lookup is reported as what it is: once per streak of failed dials and per
// distinct error in it (never once per retry, even when errors alternate), the lookup's own
// bound ending a lookup that never answers (not the handshake's "no challenge from the
// server"), and the peer's recovery once.
// Real loopback sockets; the lookups are functions the test controls.
import assert from "node:assert/strict";
import type { LookupFunction } from "node:net";
import { after, test } from "node:test";
import { parseAddress, type RejectEvent, TcpTransport } from "../../config/raft/transport/index.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transport peer lookup test secret";
const seed = testSeed(20_261_213);
const rand = seededRandom(seed);
const note = seedNote(seed);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Dials {
  failures: { peer: string; address: string; code: string | undefined; message: string; n: number }[];
  recovered: { peer: string; failures: number }[];
  rejects: RejectEvent[];
}

async function pair(lookup: LookupFunction, lookupTimeoutMs?: number) {
  const got: string[] = [];
  const b = new TcpTransport({ id: "b", secret: SECRET, rand, onMessage: () => {} });
  const bAddr = await b.start();
  cleanups.push(() => b.stop());
  const port = parseAddress(bAddr).port;
  const dials: Dials = { failures: [], recovered: [], rejects: [] };
  const a = new TcpTransport({
    id: "a",
    secret: SECRET,
    rand,
    inbound: false,
    backoffMinMs: 10,
    backoffMaxMs: 50,
    lookup,
    ...(lookupTimeoutMs === undefined ? {} : { lookupTimeoutMs }),
    peers: { b: `b.peers.test:${port}` },
    onMessage: (_from, p) => got.push(p.toString()),
    onDialFailure: (peer, address, err, n) =>
      dials.failures.push({ peer, address, code: err.code, message: err.message, n }),
    onDialRecovered: (peer, _address, failures) => dials.recovered.push({ peer, failures }),
  });
  a.on("reject", (e: RejectEvent) => dials.rejects.push(e));
  await a.start();
  cleanups.push(() => a.stop());
  return { a, b, dials };
}

function lookupError(code: string, hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`DNS lookup of ${hostname} failed: ${code}`), {
    code,
    hostname,
    syscall: "getaddrinfo",
  });
}

test("a peer's hostname resolves through the lookup passed in; failures are reported once per streak and per code, recovery once", async () => {
  const asked: string[] = [];
  // ENOTFOUND 3 times, EAI_AGAIN 3 times, ENOTFOUND 3 times again, then the address.
  const lookup = ((hostname: string, _opts: unknown, cb: (...a: unknown[]) => void) => {
    asked.push(hostname);
    const n = asked.length;
    setImmediate(() => {
      if (n <= 3 || (n > 6 && n <= 9)) cb(lookupError("ENOTFOUND", hostname), "");
      else if (n <= 6) cb(lookupError("EAI_AGAIN", hostname), "");
      else if ((_opts as { all?: boolean } | undefined)?.all === true)
        cb(null, [{ address: "127.0.0.1", family: 4 }]);
      else cb(null, "127.0.0.1", 4);
    });
  }) as unknown as LookupFunction;
  const { a, dials } = await pair(lookup);
  assert.ok(a.send("b", Buffer.from("hello")), note);
  await waitFor(() => a.linkState("b") === "open", "the link open", 10_000).catch(() =>
    assert.fail(`link never opened; asked ${JSON.stringify(asked)}, dials ${JSON.stringify(dials)}\n${note}`),
  );
  assert.ok(asked.length >= 10, `every dial asked the lookup passed in: ${JSON.stringify(asked)}\n${note}`);
  assert.ok(
    asked.every((h) => h === "b.peers.test"),
    `asked ${JSON.stringify(asked)}\n${note}`,
  );
  // Nine failed dials, two lines: the first of the streak and the other code; the first code
  // coming back is not reported again.
  assert.deepEqual(
    dials.failures.map((f) => [f.peer, f.address, f.code, f.n]),
    [
      ["b", a.peers().b, "ENOTFOUND", 1],
      ["b", a.peers().b, "EAI_AGAIN", 4],
    ],
    note,
  );
  assert.match(dials.failures[0].message, /DNS lookup of b\.peers\.test/, note);
  assert.deepEqual(dials.recovered, [{ peer: "b", failures: 9 }], note);
  assert.equal(a.stats().connectFailures, 9, note);
});

test("a lookup that never answers ends at lookupTimeoutMs, reported as the lookup, not as a handshake timeout", async () => {
  let calls = 0;
  const hung = (() => {
    calls++;
  }) as unknown as LookupFunction;
  const { a, dials } = await pair(hung, 200);
  a.send("b", Buffer.from("hello"));
  await waitFor(() => calls >= 3, "three lookups", 10_000).catch(() =>
    assert.fail(`lookup asked ${calls} times\n${note}`),
  );
  assert.equal(
    dials.failures.length,
    1,
    `one line for the streak: ${JSON.stringify(dials.failures)}\n${note}`,
  );
  assert.equal(dials.failures[0].code, "EDNS_TIMEOUT", note);
  assert.match(dials.failures[0].message, /DNS lookup of b\.peers\.test got no answer within 200 ms/, note);
  assert.equal(dials.failures[0].n, 1, note);
  assert.deepEqual(
    dials.rejects.filter((r) => r.reason === "handshake_timeout"),
    [],
    `the hung lookup was reported as a handshake timeout\n${note}`,
  );
});
