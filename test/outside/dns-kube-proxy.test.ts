// Tried from the outside: the Kubernetes API server reached through the proxy named in the
// kubeconfig (`proxy-url`), the proxy's hostname hung in DNS. Found: the client's proxy agents
// open their connection to the proxy themselves (hpagent: http.request; socks-proxy-agent:
// net.connect), without the agent's `lookup`, so the proxy's name went to getaddrinfo on
// libuv's thread pool although the API server's agents had the bounded lookup: each attempt
// held a thread for the resolver's whole timeout (150 s here), the watch failed at its own
// timeout without naming DNS, nothing in shardgate_dns_* moved, and SIGTERM never ended the
// process. Now both proxy agents get the bounded lookup: the failure names the lookup within
// seconds, is counted, the proxy is used once DNS answers, and SIGTERM exits 0.
// Real shardgate processes in a mount namespace whose resolv.conf names a DNS double
// (test/support/dns-double.ts); the API double and the proxies (an HTTP CONNECT proxy and a
// SOCKS5 proxy, each a few lines over node:net) listen on 127.0.0.1.

import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { dnsFixture, sigtermExit } from "../support/dns-process.js";
import { SHORT_DNS_BOUNDS_ENV } from "../support/dns-short-bounds.js";
import { freshModuleValue } from "../support/fresh-module-value.js";
import { kubeServingApp } from "../support/kube-app-double.js";
import { writeKubeconfigFor } from "../support/kube-config-file.js";
import { metricValue } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_211, "shardgate-dns-kube-proxy-");
const { dir } = fx;
const TOKEN = "dns-kube-proxy-test-token";
const closers: Array<() => Promise<unknown>> = [];

after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
});

interface Proxy {
  port: number;
  /** Tunnels opened so far. */
  tunnels: number;
}

function track(server: Server, sockets: Set<Socket>): void {
  closers.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
}

function tunnel(client: Socket, host: string, port: number, sockets: Set<Socket>, ok: () => void): void {
  const upstream = connect(port, host, () => {
    ok();
    upstream.pipe(client);
    client.pipe(upstream);
  });
  sockets.add(upstream);
  upstream.on("error", () => client.destroy());
  client.on("error", () => upstream.destroy());
  client.on("close", () => upstream.destroy());
}

/** An HTTP proxy that only tunnels (CONNECT host:port), as hpagent uses it. */
async function connectProxy(): Promise<Proxy> {
  const p: Proxy = { port: 0, tunnels: 0 };
  const sockets = new Set<Socket>();
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on("connect", (req, client: Socket, head: Buffer) => {
    sockets.add(client);
    const [host, port] = String(req.url).split(":");
    tunnel(client, host, Number(port), sockets, () => {
      p.tunnels++;
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) client.unshift(head);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  p.port = (server.address() as AddressInfo).port;
  track(server as unknown as Server, sockets);
  return p;
}

/** A SOCKS5 proxy (no authentication, CONNECT to an IPv4 address or a name). */
async function socks5Proxy(): Promise<Proxy> {
  const p: Proxy = { port: 0, tunnels: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    let buf = Buffer.alloc(0);
    let stage: "greeting" | "request" | "done" = "greeting";
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === "greeting") {
        if (buf.length < 2 || buf.length < 2 + buf[1]) return;
        buf = buf.subarray(2 + buf[1]);
        client.write(Buffer.from([5, 0]));
        stage = "request";
      }
      if (stage === "request") {
        if (buf.length < 5) return;
        const atyp = buf[3];
        const addrLen = atyp === 1 ? 4 : atyp === 3 ? 1 + buf[4] : 16;
        if (buf.length < 4 + addrLen + 2) return;
        const host =
          atyp === 1 ? [...buf.subarray(4, 8)].join(".") : buf.subarray(5, 5 + buf[4]).toString("latin1");
        const port = buf.readUInt16BE(4 + addrLen);
        const rest = buf.subarray(4 + addrLen + 2);
        stage = "done";
        client.off("data", onData);
        client.pause();
        tunnel(client, host, port, sockets, () => {
          p.tunnels++;
          client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
          if (rest.length > 0) client.unshift(rest);
          client.resume();
        });
      }
    };
    client.on("data", onData);
    client.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  p.port = (server.address() as AddressInfo).port;
  track(server, sockets);
  return p;
}

async function metrics(admin: string): Promise<string> {
  const res = await fetch(`${admin}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(10_000)),
  });
  return res.text();
}

// The cases below run with the lookup's bounds shortened (dns-short-bounds.ts); a process
// without the variables keeps the defaults an operator gets.
test("the lookup's bounds: shortened by SHARDGATE_TEST_DNS_LOOKUP_MS and _QUERY_MS, else 5 s and 1.5 s", () => {
  const bounds = (env: Readonly<Record<string, string>>) =>
    ["timeoutMs", "queryTimeoutMs"]
      .map((f) => freshModuleValue("net/bounded-lookup.js", `DEFAULT_LOOKUP_SETTINGS.${f}`, { ...env }).value)
      .join(" ");
  assert.equal(bounds(SHORT_DNS_BOUNDS_ENV), "1500 400");
  assert.equal(bounds({}), "5000 1500");
});

for (const kind of ["http", "socks5"] as const) {
  test(`the kubeconfig's ${kind} proxy-url names a host whose DNS hangs: the proxy's lookup is bounded, named and counted; the proxy is used once DNS answers; SIGTERM exits 0`, {
    skip: fx.skip ?? false,
    timeout: 240_000,
  }, async () => {
    const { dns, port } = await fx.prepare("silent");
    dns.answerIp = "127.0.0.1";
    const kube = await kubeServingApp(port);
    closers.push(() => kube.close());
    const proxy = kind === "http" ? await connectProxy() : await socks5Proxy();
    const NAME = `${kind}-proxy.dns-kube-proxy.test`;
    // The API server by IP: the only name to resolve is the proxy's.
    const kubeconfig = writeKubeconfigFor(join(dir, `${kind}.kubeconfig`), {
      name: "proxied",
      server: `http://127.0.0.1:${kube.port}`,
      insecureSkipTlsVerify: true,
      proxyUrl: `${kind}://${NAME}:${proxy.port}`,
    });
    const sg = await fx.start(
      kind,
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
pools:
  app:
    discovery: { kubernetes: { service: app, namespace: default, port: http, kubeconfig: ${kubeconfig} } }
routes:
  - { match: { pathPrefix: / }, pool: app, key: [header:x-k] }
`,
      // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
      { timeoutS: 30, attempts: 5 },
      false,
      SHORT_DNS_BOUNDS_ENV,
    );
    const fail = (what: string) => (err: unknown) => assert.fail(`${what}: ${String(err)}\n${sg.output()}`);
    await dns.waitQueries((q) => q.includes(NAME), scaled(30_000));
    // The old code: the list's own timeout ("list timed out"), the getaddrinfo still hung.
    const warn = await eventually(
      "the endpointslice watch failure",
      () =>
        sg.lines.find(
          (l) => typeof l.msg === "string" && l.msg.startsWith("kubernetes endpointslice watch failed"),
        ),
      60_000,
      100,
    ).catch(fail("watch failure"));
    assert.ok(
      String(warn.err).includes(`DNS lookup of ${NAME}`),
      `the failure names the proxy's lookup\n${sg.output()}`,
    );
    // Ended by the shortened bounds (c-ares's tries or the caller's), not by the defaults.
    assert.match(String(warn.err), /tries from 400 ms|within 1500 ms/, sg.output());
    await eventually(
      "shardgate_dns_timeouts_total > 0",
      async () =>
        (metricValue(await metrics(sg.admin), "shardgate_dns_timeouts_total", {}) ?? 0) > 0
          ? true
          : undefined,
      30_000,
      200,
    ).catch(fail("the lookup counted"));
    assert.equal(proxy.tunnels, 0, "the proxy was reached while its name did not resolve");
    // DNS answers: the watch goes through the proxy, the member is committed and serves.
    dns.mode = "answer";
    await eventually(
      "the pool serving through the proxy once DNS answers",
      async () => {
        const res = await fetch(`${sg.http}/x`, {
          headers: { "x-k": "k" },
          signal: AbortSignal.timeout(scaled(10_000)),
        });
        await res.arrayBuffer();
        return res.status === 200 ? true : undefined;
      },
      90_000,
      250,
    ).catch(fail("recovery"));
    assert.ok(proxy.tunnels > 0, `the API server was reached without the proxy\n${sg.output()}`);
    const code = await sigtermExit(sg);
    assert.equal(code, 0, `SIGTERM after the proxy's DNS hung\n${sg.output()}`);
    dns.mode = "silent";
  });
}
