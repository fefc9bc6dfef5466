// Micro-benchmark of the level-6 host key reading (proxy/routing/host-key.ts hostKeyText), run
// once per request on a route keyed on `header:host`: `npm run bench -- host-key`. CPU ns per
// call, median of passes after a warm-up, for the spellings clients send: a bare name, a name
// with the default port, a name with another port (already the key's text), an upper-case name,
// an IPv6 literal with a port. Next to it the previous form of the function (the port's digits
// cut out as a string of their own, and "host:port" built again even when it is the text
// given), kept here to compare; both must give the same text for every input (checked first).

import { hostKeyText } from "../proxy/routing/host-key.js";
import { checksum, median, nsPerCall } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

/** hostKeyText as cd651d2 wrote it. */
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
  let port = "";
  if (hostEnd < v.length) {
    const digits = v.slice(hostEnd + 1);
    if (digits !== "") {
      let n = 0;
      for (let i = 0; i < digits.length; i++) {
        const c = digits.charCodeAt(i) - 0x30;
        if (c < 0 || c > 9) return v;
        n = n * 10 + c;
        if (n > 65535) return v;
      }
      if (n !== defaultPort) port = `:${n}`;
    }
  }
  let host = hostEnd === v.length ? v : v.slice(0, hostEnd);
  if (host.length > 1 && host.charCodeAt(host.length - 1) === 0x2e) host = host.slice(0, -1);
  return port === "" ? host : host + port;
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
    "name:8443 (another port)",
    ["api.example.com:8443", "shop.example.org:8080", "a.b.c.example.net:9000", "www.example.com:81"],
  ],
  ["Name (upper case)", ["API.example.com", "Shop.Example.org", "A.B.C.EXAMPLE.NET", "WWW.example.com"]],
  ["[v6]:8080", ["[2001:db8::1]:8080", "[::1]:8081", "[fe80::1]:9000", "[2001:db8::2]:8443"]],
];

async function run(argv: string[]): Promise<number> {
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
  ];
  for (const v of CASES.flatMap(([, vs]) => vs).concat(extra))
    for (const port of [80, 443])
      if (hostKeyText(v, port) !== hostKeyTextBefore(v, port))
        throw new Error(`${v} at ${port}: ${hostKeyText(v, port)} !== ${hostKeyTextBefore(v, port)}`);
  console.log(`host key text, ns per call (median of ${repeats} passes of ${n}):`);
  for (const [label, inputs] of CASES) {
    const pass = (f: (v: string, p: number) => string) => () => {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += f(inputs[i & 3], 80).length;
      return acc;
    };
    const before: number[] = [];
    const now: number[] = [];
    for (let r = 0; r < 3; r++) {
      before.push(nsPerCall(n, repeats, pass(hostKeyTextBefore)));
      now.push(nsPerCall(n, repeats, pass(hostKeyText)));
    }
    console.log(
      `  ${label.padEnd(26)} before ${median(before).toFixed(1).padStart(6)}  now ${median(now).toFixed(1).padStart(6)}  (${(median(now) / median(before)).toFixed(2)}x)`,
    );
  }
  console.log(`(sink ${checksum() & 1})`);
  return 0;
}

runIfMain(import.meta.url, run);
