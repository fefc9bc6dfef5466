// Micro-benchmark of the host key reading (proxy/routing/host-key.ts), run once per request on a
// route keyed on `header:host`: `npm run bench -- host-key`. CPU ns per call, median of passes
// after a warm-up, for the spellings clients send: a bare name, a name with port 80 or 443, a name
// with another port (already the key's text), an upper-case name, an IPv6 literal with a port.
// The peer is level 6's reading as it stood before level 7 (one default port, the listener's;
// kept here to compare), next to level 7's (hostKeyText: 80 and 443 on every listener) and the
// level-6 reading this build keeps for a fleet mid-upgrade (hostKeyTextV6). Checked first, for
// every input: hostKeyTextV6 gives what the peer gives, and hostKeyText what the peer gives with
// 80 dropped and then 443. Then extractKey itself, a level-6 plan against a level-7 one.

import type { IncomingMessage } from "node:http";
import { configSchema } from "../config/file/schema.js";
import { hostKeyText, hostKeyTextV6 } from "../proxy/routing/host-key.js";
import { compileKeyPlan, extractKey } from "../proxy/routing/key-extract.js";
import { checksum, median, nsPerCall } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

/** hostKeyText as 997b8ac left it: level 6's reading, the listener's default port dropped. */
function hostKeyTextBefore(value: string, defaultPort: number): string {
  const v = hasUpperBefore(value) ? value.toLowerCase() : value;
  let hostEnd: number;
  if (v.charCodeAt(0) === 0x5b) {
    const close = v.indexOf("]");
    if (close < 0) return v;
    hostEnd = close + 1;
    if (hostEnd < v.length && v.charCodeAt(hostEnd) !== 0x3a) return v;
  } else {
    const colon = v.indexOf(":");
    if (colon >= 0 && v.indexOf(":", colon + 1) >= 0) return v;
    hostEnd = colon < 0 ? v.length : colon;
  }
  let port = -1;
  let portAsGiven = true;
  const from = hostEnd + 1;
  if (from < v.length) {
    const n = portNumberBefore(v, from);
    if (n < 0) return v;
    if (n !== defaultPort) {
      port = n;
      portAsGiven = v.charCodeAt(from) !== 0x30 || from === v.length - 1;
    }
  }
  const hostLen = hostEnd > 1 && v.charCodeAt(hostEnd - 1) === 0x2e ? hostEnd - 1 : hostEnd;
  if (port < 0) return hostLen === v.length ? v : v.slice(0, hostLen);
  return hostLen === hostEnd && portAsGiven ? v : `${v.slice(0, hostLen)}:${port}`;
}

function portNumberBefore(v: string, from: number): number {
  let n = 0;
  for (let i = from; i < v.length; i++) {
    const c = v.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
    if (n > 65535) return -1;
  }
  return n;
}

function hasUpperBefore(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

const CASES: Array<[string, string[]]> = [
  ["name", ["api.example.com", "shop.example.org", "a.b.c.example.net", "www.example.com"]],
  [
    "name:80 (default port)",
    ["api.example.com:80", "shop.example.org:80", "a.b.c.example.net:80", "www.example.com:80"],
  ],
  [
    "name:443 (TLS default)",
    ["api.example.com:443", "shop.example.org:443", "a.b.c.example.net:443", "www.example.com:443"],
  ],
  [
    "name:8443 (another port)",
    ["api.example.com:8443", "shop.example.org:8080", "a.b.c.example.net:9000", "www.example.com:81"],
  ],
  ["Name (upper case)", ["API.example.com", "Shop.Example.org", "A.B.C.EXAMPLE.NET", "WWW.example.com"]],
  ["[v6]:8080", ["[2001:db8::1]:8080", "[::1]:8081", "[fe80::1]:9000", "[2001:db8::2]:8443"]],
];

export async function run(argv: string[]): Promise<number> {
  const quick = argv.includes("--quick");
  const n = quick ? 200_000 : 2_000_000;
  const repeats = quick ? 5 : 11;
  const extra = [
    "h:",
    "h.:00080",
    "h:00",
    "h:0",
    "h.",
    ".",
    "[::1]",
    "[::1].",
    "a:b:c",
    "h:65536",
    "h:+80",
    "H.:443",
    "h.:0443",
    "[::1]:443",
    "[::1]:080",
  ];
  for (const v of CASES.flatMap(([, vs]) => vs).concat(extra)) {
    for (const port of [80, 443])
      if (hostKeyTextV6(v, port) !== hostKeyTextBefore(v, port))
        throw new Error(`${v} at ${port}: ${hostKeyTextV6(v, port)} !== ${hostKeyTextBefore(v, port)}`);
    const both = hostKeyTextBefore(hostKeyTextBefore(v, 80), 443);
    if (hostKeyText(v) !== both) throw new Error(`${v}: ${hostKeyText(v)} !== ${both}`);
  }
  console.log(`host key text on a plain listener, ns per call (median of ${repeats} passes of ${n}):`);
  for (const [label, inputs] of CASES) {
    const pass = (f: (v: string, p: number) => string) => () => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += f(inputs[i & 3], 80).length;
      return acc;
    };
    const before: number[] = [];
    const v6: number[] = [];
    const v7: number[] = [];
    for (let r = 0; r < 3; r++) {
      before.push(nsPerCall(n, repeats, pass(hostKeyTextBefore)));
      v6.push(nsPerCall(n, repeats, pass(hostKeyTextV6)));
      v7.push(nsPerCall(n, repeats, pass(hostKeyText)));
    }
    const ns = (xs: number[]) => median(xs).toFixed(1).padStart(6);
    console.log(
      `  ${label.padEnd(26)} level 6 before ${ns(before)}  level 6 now ${ns(v6)}  level 7 ${ns(v7)}  (level 7 ${(median(v7) / median(before)).toFixed(2)}x)`,
    );
  }
  // The request path itself: a header:host route's key read by a level-6 plan (which also asks
  // the socket whether the listener is TLS) and by a level-7 plan (which does not).
  const route = configSchema.parse({
    pools: { p: { members: [{ id: "a", address: "127.0.0.1:1" }] } },
    routes: [{ match: {}, pool: "p", key: ["header:host"] }],
  }).routes[0];
  const plan6 = compileKeyPlan(route, "v6");
  const plan7 = compileKeyPlan(route, "v7");
  console.log(`extractKey on a header:host route behind a TLS listener, ns per call:`);
  for (const [label, inputs] of CASES) {
    const reqs = inputs.map(
      (host) =>
        ({
          url: "/",
          headers: { host },
          rawHeaders: [],
          socket: { remoteAddress: "127.0.0.1", encrypted: true },
        }) as unknown as IncomingMessage,
    );
    const pass = (plan: typeof plan6) => () => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += extractKey(plan, reqs[i & 3]).length;
      return acc;
    };
    const v6: number[] = [];
    const v7: number[] = [];
    for (let r = 0; r < 3; r++) {
      v6.push(nsPerCall(n, repeats, pass(plan6)));
      v7.push(nsPerCall(n, repeats, pass(plan7)));
    }
    console.log(
      `  ${label.padEnd(26)} level 6 ${median(v6).toFixed(1).padStart(6)}  level 7 ${median(v7).toFixed(1).padStart(6)}  (${(median(v7) / median(v6)).toFixed(2)}x)`,
    );
  }
  console.log(`(sink ${checksum() & 1})`);
  return 0;
}

runIfMain(import.meta.url, run);
