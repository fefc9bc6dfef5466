// A trusted proxy's X-Forwarded-For / Forwarded chain of IPv6 hops, tried from a client's side.
//
// Seen before the fix: clientAddress() gave every entry it walked to canonicalAddress(), which
// builds a node:net SocketAddress for any IPv6 text (~1.3 us each): a 16 KiB header of
// "[FC00:0:0::1]:443," entries from a trusted peer cost ~1.2 ms per request
// (`node dist/bench/complexity-micro.js "ip key"`: 800 entries, 1.69 ms). Now the trust check
// reads each entry's address as written (the matcher compares its 128 bits) and only the entry
// kept as the key is canonicalised.
//
// Here: (1) through a real node:http server, a request with 400 trusted IPv6 hops makes at most
// one SocketAddress; (2) a seeded differential against the old function (kept below as it was)
// over random IPv4 / IPv6 / v4-mapped / zone / bracket-and-port / garbage spellings and random
// trusted lists, for both headers: the same client address for every chain.

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, request } from "node:http";
import { syncBuiltinESMExports } from "node:module";
import net, { isIPv4, isIPv6, SocketAddress } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Cidr } from "../../config/file/schema.js";
import type { TrustedList } from "../../proxy/routing/cidr-match.js";
import { forwardedFor, identifiesNothing, textIdentifiesNothing } from "../../proxy/routing/forwarded.js";
import { clientAddress, compileTrusted } from "../../proxy/routing/key-extract.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(2261);

// ---- the old code, as it was before the fix (the reference of the differential) ----

function oldUnmap(address: string): string {
  return address.length > 7 && address.startsWith("::ffff:") && isIPv4(address.slice(7))
    ? address.slice(7)
    : address;
}

function oldIsPort(s: string, from: number): boolean {
  const n = s.length - from;
  if (n < 1 || n > 5) return false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function oldCanonical(text: string): string {
  if (isIPv4(text)) return text;
  let a = text;
  if (a.charCodeAt(0) === 0x5b) {
    const close = a.indexOf("]");
    if (close < 0) return text;
    a = a.slice(1, close);
  } else {
    const colon = a.indexOf(":");
    if (colon > 0 && a.indexOf(":", colon + 1) < 0) {
      const host = a.slice(0, colon);
      return isIPv4(host) && oldIsPort(a, colon + 1) ? host : text;
    }
  }
  if (!isIPv6(a)) return a === text ? text : isIPv4(a) ? a : text;
  let canonical: string;
  try {
    canonical = new SocketAddress({ address: a, family: "ipv6" }).address;
  } catch {
    return a;
  }
  const lower = canonical.toLowerCase();
  return lower.startsWith("::ffff:") ? oldUnmap(lower) : lower;
}

function oldTrusted(list: TrustedList, address: string): boolean {
  return address !== "" && list.has(address);
}

function oldClientAddress(req: IncomingMessage, trusted: TrustedList): string {
  const peer = oldUnmap(req.socket.remoteAddress ?? "");
  if (!oldTrusted(trusted, peer)) return peer;
  const fwd = req.headers.forwarded;
  if (typeof fwd === "string" && fwd !== "") {
    const nodes = forwardedFor(fwd);
    if (nodes !== undefined && nodes.length > 0) {
      let candidate = "";
      for (let i = nodes.length - 1; i >= 0; i--) {
        if (nodes[i] === "") continue;
        candidate = oldCanonical(nodes[i]);
        if (!oldTrusted(trusted, candidate)) return candidate;
      }
      return candidate === "" ? peer : candidate;
    }
  }
  const xff = req.headers["x-forwarded-for"];
  if (typeof xff !== "string" || xff === "") return peer;
  let end = xff.length;
  let candidate = "";
  while (end > 0) {
    const comma = xff.lastIndexOf(",", end - 1);
    const entry = xff.slice(comma + 1, end).trim();
    end = Math.max(comma, 0);
    if (entry === "") continue;
    candidate = oldCanonical(entry);
    if (!oldTrusted(trusted, candidate)) return candidate;
  }
  return candidate === "" ? peer : candidate;
}

// ---- counting SocketAddress constructions (address-text.ts imports it from node:net) ----

let socketAddresses = 0;
const RealSocketAddress = net.SocketAddress;
class CountingSocketAddress extends RealSocketAddress {
  constructor(options: ConstructorParameters<typeof RealSocketAddress>[0]) {
    socketAddresses++;
    super(options);
  }
}

/** node:net defines SocketAddress as a configurable getter: swapped in place, then restored. */
const DESCRIPTOR = Object.getOwnPropertyDescriptor(net, "SocketAddress") as PropertyDescriptor;

function countSocketAddresses<T>(f: () => T): { value: T; count: number } {
  Object.defineProperty(net, "SocketAddress", {
    value: CountingSocketAddress,
    configurable: true,
    enumerable: true,
  });
  syncBuiltinESMExports();
  socketAddresses = 0;
  try {
    const value = f();
    return { value, count: socketAddresses };
  } finally {
    Object.defineProperty(net, "SocketAddress", DESCRIPTOR);
    syncBuiltinESMExports();
  }
}

describe("complexity: a trusted chain of IPv6 hops is not canonicalised hop by hop", () => {
  const trusted = compileTrusted([
    { address: "127.0.0.0", prefix: 8, family: "ipv4" },
    { address: "fc00::", prefix: 7, family: "ipv6" },
  ] as Cidr[]) as TrustedList;
  let server: ReturnType<typeof createServer>;
  let port = 0;
  let lastCount = -1;
  let lastAddress = "";

  before(async () => {
    server = createServer((req, res) => {
      try {
        const r = countSocketAddresses(() => clientAddress(req, trusted));
        lastCount = r.count;
        lastAddress = r.value;
        res.end();
      } catch (err) {
        res.statusCode = 500;
        res.end(String(err));
      }
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => server.close());

  async function send(headers: Record<string, string>): Promise<void> {
    const req = request({ host: "127.0.0.1", port, path: "/", headers, agent: false });
    req.end();
    const [res] = (await once(req, "response")) as [IncomingMessage];
    res.resume();
    await once(res, "end");
    assert.equal(res.statusCode, 200);
  }

  const HOPS = 400;
  const CLIENT = "2001:DB8:0:0:0:0:0:7";

  it(`X-Forwarded-For: ${HOPS} trusted IPv6 hops and an untrusted client make at most one SocketAddress`, async () => {
    const chain = [`[${CLIENT}]:5000`, ...Array(HOPS).fill("[FC00:0:0::1]:443")].join(",");
    await send({ "x-forwarded-for": chain });
    assert.equal(lastAddress, "2001:db8::7");
    assert.ok(lastCount <= 1, `${lastCount} SocketAddress constructions for one request of ${HOPS} hops`);
  });

  it(`Forwarded: ${HOPS} trusted IPv6 elements and an untrusted client make at most one SocketAddress`, async () => {
    const chain = [`for="[${CLIENT}]:5000"`, ...Array(HOPS).fill('for="[FC00:0:0::1]:443"')].join(",");
    await send({ forwarded: chain });
    assert.equal(lastAddress, "2001:db8::7");
    assert.ok(lastCount <= 1, `${lastCount} SocketAddress constructions for one request of ${HOPS} hops`);
  });
});

// ---- the seeded differential ----

function fakeRequest(headers: Record<string, string>, peer: string): IncomingMessage {
  return { headers, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
}

describe("complexity: the cheap trust walk answers as the old one did", () => {
  const rand = seededRandom(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const int = (n: number): number => Math.floor(rand() * n);
  const hex = (): string => int(0x10000).toString(16);
  const caseMix = (s: string): string => [...s].map((c) => (rand() < 0.5 ? c.toUpperCase() : c)).join("");
  // A small address space so trusted lists and entries meet often.
  const v4 = (): string => pick(["10", "127", "192", "172"]) + `.${int(3)}.${int(3)}.${int(256)}`;
  const v6groups = (): string[] => {
    const g = [pick(["fc00", "fd12", "2001", "fe80", "0"]), "db8", "0", "0", "0", "0", "0", String(int(3))];
    for (let i = 1; i < 7; i++) if (rand() < 0.2) g[i] = hex();
    return g;
  };
  const v6 = (): string => {
    const g = v6groups();
    switch (int(5)) {
      case 0:
        return g.join(":"); // uncompressed
      case 1:
        return g.map((x) => x.padStart(4, "0")).join(":"); // leading zeros
      default: {
        // compress one run of zero groups (maybe not the longest: still a valid spelling)
        const zeros: number[] = [];
        for (let i = 0; i < 8; i++) if (g[i] === "0") zeros.push(i);
        if (zeros.length === 0) return g.join(":");
        const from = pick(zeros);
        let to = from;
        while (to + 1 < 8 && g[to + 1] === "0" && rand() < 0.8) to++;
        return `${g.slice(0, from).join(":")}::${g.slice(to + 1).join(":")}`;
      }
    }
  };
  const mapped = (): string => pick(["::ffff:", "::FFFF:", "0:0:0:0:0:ffff:", "::ffff:0:"]) + v4();
  const mappedHex = (): string => `::ffff:${pick(["a00", "7f00", "c0a8"])}:${hex()}`;
  const zone = (): string =>
    `${pick([v6(), "fe80::1", mapped(), "0000:0000:0000:0000:0000:ffff:255.255.255.255", "0000:0000:0000:0000:0000:0000:0000:0001"])}%${pick(["eth0", "1", "25x", "a".repeat(20)])}`;
  const garbage = (): string =>
    pick([
      "unknown",
      "_hidden",
      "[",
      "[foo]",
      "[fc00::1",
      "10.0.0.1:99999",
      "10.0.0.01",
      "::ffff:10.0.0.1:80",
      "x:1",
      "fc00:::1",
      ":::",
      "1.2.3.4.5",
      "[10.0.0.1]",
      "[10.0.0.1]:80",
      "::",
      "::1",
      "fc00::1:",
      "a:b:c",
    ]);
  const address = (): string => {
    const r = rand();
    if (r < 0.25) return v4();
    if (r < 0.55) return v6();
    if (r < 0.7) return mapped();
    if (r < 0.75) return mappedHex();
    if (r < 0.85) return zone();
    return garbage();
  };
  /** One entry as a proxy may write it: maybe bracketed, maybe with a port, maybe upper case. */
  const entry = (): string => {
    const a = address();
    const spelled = rand() < 0.3 ? caseMix(a) : a;
    const r = rand();
    if (r < 0.3 && isIPv4(spelled)) return `${spelled}:${int(65536)}`;
    if (r < 0.5) return `[${spelled}]`;
    if (r < 0.7) return `[${spelled}]:${int(65536)}`;
    return spelled;
  };
  const cidr = (): Cidr => {
    if (rand() < 0.4) {
      const [a, b] = [pick(["10", "127", "192", "172"]), int(3)];
      return { address: `${a}.${b}.0.0`, prefix: pick([8, 16, 24, 32]), family: "ipv4" } as Cidr;
    }
    if (rand() < 0.2)
      return { address: "::ffff:10.0.0.0", prefix: pick([96, 104, 112]), family: "ipv6" } as Cidr;
    const g = v6groups();
    return { address: g.join(":"), prefix: pick([7, 16, 64, 112, 128]), family: "ipv6" } as Cidr;
  };

  it("10,000 seeded chains, X-Forwarded-For and Forwarded, give the same client address", () => {
    let checked = 0;
    let deep = 0;
    for (let round = 0; round < 10_000; round++) {
      const list = compileTrusted(Array.from({ length: 1 + int(3) }, cidr)) as TrustedList;
      const entries = Array.from({ length: 1 + int(6) }, entry);
      const peer = pick(["127.0.0.1", "::ffff:127.0.0.1", "10.1.1.1", "fc00::5"]);
      const xff = fakeRequest({ "x-forwarded-for": entries.join(pick([",", ", ", " , "])) }, peer);
      const want = oldClientAddress(xff, list);
      const whatXff = `X-Forwarded-For ${JSON.stringify(entries)} peer ${peer}: ${seedNote(SEED)}`;
      assert.equal(clientAddress(xff, list, true), want, whatXff);
      assert.equal(clientAddress(xff, list), textIdentifiesNothing(want) ? "" : want, whatXff);
      const quoted = entries.filter((e) => !e.includes('"')).map((e) => `for="${e}"`);
      const fwd = fakeRequest({ forwarded: quoted.join(",") }, peer);
      // The old function read a node that identifies nothing as text: level 4's reading
      // (nothingIsText); level 5 gives "" for exactly those.
      const old = oldClientAddress(fwd, list);
      const what = `Forwarded ${JSON.stringify(entries)} peer ${peer}: ${seedNote(SEED)}`;
      assert.equal(clientAddress(fwd, list, true), old, what);
      assert.equal(clientAddress(fwd, list), identifiesNothing(old) ? "" : old, what);
      checked++;
      if (want !== "" && want !== oldUnmap(peer)) deep++;
    }
    // The draw must reach the walk, not just stop at an untrusted peer.
    assert.ok(deep > 1_000, `only ${deep} of ${checked} chains read a forwarded entry: ${seedNote(SEED)}`);
  });
});
