// The numbers-truth scenario (test/outside/numbers-truth-*.test.ts): a real shardgate process
// in front of real members that misbehave on a seeded schedule (faulty-members.ts), driven by
// real clients (node:http, node:http2, raw sockets that leave before or during the answer, a
// client that half-closes, a request with no key, a pool whose first member refuses connects).
// Every client writes down what it saw (status, body bytes, whether it left) and every member
// what it saw (attempts, bytes); then the access log and /metrics (parsed, and `promtool check
// metrics`) are compared with them, and every disagreement is returned as one sentence:
// one access line per request with the status the client saw (a client that left before any
// answer: 499, nginx's; after the head: the status sent, error downstream_disconnected) and
// the member that answered; requests_total and the duration histogram's _count by the
// client-seen statuses; retries_total by the attempts beyond the first; upstream_errors_total
// {kind} by the faults injected; in-flight gauges 0 at rest. Bounded: N requests, PARALLEL at
// a time, each with its own deadline, within a total budget.

import { Agent, request as httpRequest } from "node:http";
import { connect as h2Connect, constants as h2c } from "node:http2";
import { connect as netConnect } from "node:net";
import {
  type Fault,
  type FaultyMember,
  type MemberBook,
  newBook,
  startFaultyMember,
} from "./faulty-members.js";
import { pick, seededRandom } from "./prng.js";
import { parsePromSamples, sumOf } from "./prom-samples.js";
import { promtoolCheckMetrics } from "./promtool.js";
import { type RunningShardgate, startShardgate } from "./shardgate-process.js";
import { eventually, scaled } from "./wait.js";

const N = 160;
const PARALLEL = 6;
const REQUEST_DEADLINE_MS = 20_000;
// Long enough that no prompt answer misses it on a loaded machine; each "slow" fault waits it out.
const RESPONSE_TIMEOUT = "5s";

type Client = "http1" | "h2" | "raw-leave" | "raw-halfclose" | "nokey" | "dead";

interface Planned {
  readonly id: string;
  readonly path: string;
  readonly client: Client;
  readonly fault: Fault;
  readonly size: number;
  readonly key: string;
  readonly pool: string;
}

interface Seen {
  /** Status the client read (0: none reached it). */
  status: number;
  /** Body bytes the client read. */
  bytes: number;
  /** The client left on purpose (before or during the answer). */
  left: boolean;
}

const RETRY =
  "retry: { attempts: 3, on: [connect-failure, reset, timeout, gateway-error], budgetRatio: 1, minRetriesPerSecond: 10000 }";
// No breaker: a breaker opened by the injected faults would make the schedule's outcomes depend on timing.
const BREAKER = "breaker: { enabled: false }";

/** Pool main (m1-m3, key header), pool dead (d0 refuses connects, then d1), a keyed route that rejects a missing key. */
function configYaml(workers: number, members: readonly FaultyMember[], deadPort: number): string {
  const main = members
    .slice(0, 3)
    .map((m) => `      - { id: ${m.id}, address: "127.0.0.1:${m.port}" }`)
    .join("\n");
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: ""
workers: ${workers}
log:
  level: info
  accessLog: true
pools:
  main:
    algorithm: ring
    members:
${main}
    timeouts: { response: ${RESPONSE_TIMEOUT} }
    ${RETRY}
    ${BREAKER}
  dead:
    algorithm: ring
    members:
      - { id: d0, address: "127.0.0.1:${deadPort}" }
      - { id: d1, address: "127.0.0.1:${members[3].port}" }
    timeouts: { response: ${RESPONSE_TIMEOUT} }
    ${RETRY}
    ${BREAKER}
routes:
  - match: { pathPrefix: /strict/ }
    pool: main
    key: [header:x-user-id]
    onMissingKey: reject
  - match: { pathPrefix: /dead/ }
    pool: dead
    key: [header:x-user-id]
  - match: { pathPrefix: / }
    pool: main
    key: [header:x-user-id]
`;
}

/**
 * Where d0 "lives": port 1, which nothing on a test machine listens on. Privileged, so never
 * handed out as an ephemeral port: a port bound and closed here could be (and once was, by a
 * concurrent test's server) taken by another process mid-run, turning refusals into answers.
 */
const REFUSING_PORT = 1;

function plan(random: () => number): Planned[] {
  const out: Planned[] = [];
  const keys = Array.from({ length: 12 }, (_, i) => `user-${i}`);
  for (let i = 0; i < N; i++) {
    const client = pick<Client>(random, [
      "http1",
      "http1",
      "http1",
      "h2",
      "h2",
      "raw-leave",
      "raw-halfclose",
      "nokey",
      "dead",
    ]);
    let fault: Fault;
    if (client === "raw-leave") fault = pick<Fault>(random, ["hold", "partial"]);
    else if (client === "h2")
      fault = pick<Fault>(random, ["ok", "ok", "e503", "reset", "slow", "partial", "hold"]);
    // A half-closing client is cut at its FIN (clientHalfClose abort): whether a member's reset or
    // slowness came before that cut is a race, so these only get answers.
    else if (client === "raw-halfclose") fault = pick<Fault>(random, ["ok", "e503"]);
    else if (client === "nokey") fault = "ok";
    else fault = pick<Fault>(random, ["ok", "ok", "ok", "e503", "reset", "slow"]);
    const size = fault === "partial" ? 200_000 : Math.floor(random() * 50_000);
    const prefix = client === "nokey" ? "strict" : client === "dead" ? "dead" : "t";
    const id = `${prefix}/${i}`;
    out.push({
      id,
      path: `/${id}/${fault}/${size}`,
      client,
      fault,
      size,
      key: pick(random, keys),
      pool: client === "dead" ? "dead" : "main",
    });
  }
  return out;
}

export interface NumbersTruthOptions {
  readonly seed: number;
  /** `workers:` in the config (2: /metrics is the primary's sum of the workers'). */
  readonly workers: number;
}

/** Runs the scenario once; returns the disagreements found (empty: the numbers tell the truth). */
export async function numbersTruth(o: NumbersTruthOptions): Promise<string[]> {
  let book: MemberBook;
  const members: FaultyMember[] = [];
  let sg: RunningShardgate | undefined;
  let port = 0;

  const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });

  function viaHttp1(p: Planned): Promise<Seen> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = p.client === "nokey" ? {} : { "x-user-id": p.key };
      const req = httpRequest({ host: "127.0.0.1", port, path: p.path, agent, headers }, (res) => {
        let bytes = 0;
        res.on("data", (d: Buffer) => {
          bytes += d.length;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, left: false }));
        res.on("error", reject);
      });
      req.setTimeout(scaled(REQUEST_DEADLINE_MS), () =>
        req.destroy(new Error(`${p.path}: no answer in time`)),
      );
      req.on("error", reject);
      req.end();
    });
  }

  let session: ReturnType<typeof h2Connect> | undefined;

  function viaH2(p: Planned): Promise<Seen> {
    if (session === undefined || session.closed || session.destroyed) {
      session = h2Connect(`http://127.0.0.1:${port}`);
      session.on("error", () => {});
    }
    const s = session;
    return new Promise((resolve, reject) => {
      const stream = s.request({ ":path": p.path, "x-user-id": p.key });
      let status = 0;
      let bytes = 0;
      let left = false;
      const timer = setTimeout(() => stream.close(h2c.NGHTTP2_CANCEL), scaled(REQUEST_DEADLINE_MS));
      // A held request: the client resets its stream once a member has it (before any answer).
      if (p.fault === "hold")
        void book.arrived(p.id, scaled(REQUEST_DEADLINE_MS)).then(
          () => {
            left = true;
            stream.close(h2c.NGHTTP2_CANCEL);
          },
          () => stream.close(h2c.NGHTTP2_CANCEL),
        );
      stream.on("response", (h) => {
        status = Number(h[":status"]);
      });
      stream.on("data", (d: Buffer) => {
        bytes += d.length;
        // The partial answer never ends: leave once part of it arrived (a stream reset by the client).
        if (p.fault === "partial" && !left && bytes > 0 && status !== 0) {
          left = true;
          stream.close(h2c.NGHTTP2_CANCEL);
        }
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (!left && status === 0) reject(new Error(`${p.path}: h2 stream closed without an answer`));
        else resolve({ status, bytes, left });
      });
      stream.on("error", () => {});
      stream.end();
    });
  }

  /** A raw socket that leaves: before any answer (hold, once a member has the request) or after part of the body. */
  function viaRawLeave(p: Planned): Promise<Seen> {
    return new Promise((resolve, reject) => {
      const s = createConnectionTo(port);
      let head = "";
      let status = 0;
      let bytes = 0;
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`${p.path}: raw client timed out`));
      }, scaled(REQUEST_DEADLINE_MS));
      s.on("error", () => {});
      s.on("data", (d: Buffer) => {
        if (status === 0) {
          head += d.toString("latin1");
          const end = head.indexOf("\r\n\r\n");
          if (end < 0) return;
          status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? "-1");
          bytes += head.length - end - 4;
        } else bytes += d.length;
        if (bytes > 0) s.destroy();
      });
      s.on("close", () => {
        clearTimeout(timer);
        resolve({ status, bytes, left: true });
      });
      s.write(`GET ${p.path} HTTP/1.1\r\nHost: a.example\r\nx-user-id: ${p.key}\r\n\r\n`);
      if (p.fault === "hold")
        book.arrived(p.id, scaled(REQUEST_DEADLINE_MS)).then(
          () => s.destroy(),
          (err: unknown) => {
            s.destroy();
            reject(err);
          },
        );
    });
  }

  /** A raw socket that sends its request and half-closes (FIN), then reads whatever comes back. */
  function viaRawHalfClose(p: Planned): Promise<Seen> {
    return new Promise((resolve) => {
      const s = createConnectionTo(port);
      let reply = Buffer.alloc(0);
      const timer = setTimeout(() => s.destroy(), scaled(REQUEST_DEADLINE_MS));
      s.on("error", () => {});
      s.on("data", (d: Buffer) => {
        reply = Buffer.concat([reply, d]);
      });
      s.on("close", () => {
        clearTimeout(timer);
        const text = reply.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        const status = end < 0 ? 0 : Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "-1");
        resolve({ status, bytes: end < 0 ? 0 : reply.length - end - 4, left: false });
      });
      s.end(`GET ${p.path} HTTP/1.1\r\nHost: a.example\r\nx-user-id: ${p.key}\r\nConnection: close\r\n\r\n`);
    });
  }

  function createConnectionTo(p: number) {
    return netConnect(p, "127.0.0.1");
  }

  function drive(p: Planned): Promise<Seen> {
    switch (p.client) {
      case "h2":
        return viaH2(p);
      case "raw-leave":
        return viaRawLeave(p);
      case "raw-halfclose":
        return viaRawHalfClose(p);
      default:
        return viaHttp1(p);
    }
  }

  try {
    book = newBook();
    for (const id of ["m1", "m2", "m3", "d1"]) members.push(await startFaultyMember(id, book));
    sg = await startShardgate(configYaml(o.workers, members, REFUSING_PORT));
    port = Number(new URL(sg.httpUrl).port);
    return await run();
  } finally {
    agent.destroy();
    session?.close();
    await sg?.stop();
    for (const m of members) await m.close();
  }

  async function run(): Promise<string[]> {
    const shardgate = sg as RunningShardgate;
    const random = seededRandom(o.seed);
    const planned = plan(random);
    const seen = new Map<string, Seen>();
    let next = 0;
    const started = Date.now();
    const budget = scaled(300_000);
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < planned.length && Date.now() - started < budget) {
          const p = planned[next++];
          seen.set(p.id, await drive(p));
        }
      }),
    );
    session?.close();
    agent.destroy();
    if (seen.size !== planned.length)
      return [`${seen.size} of ${planned.length} planned requests driven in time`];

    // Every request's line: members may still be cutting the last ones, so wait for all of them.
    const lines = await eventually(
      "one access line per request",
      () => {
        const access = shardgate.proc.lines.filter((l) => l.type === "access");
        return access.length >= planned.length ? access : undefined;
      },
      30_000,
    );
    const byPath = new Map<string, Array<Record<string, unknown>>>();
    for (const l of lines) {
      const list = byPath.get(String(l.path)) ?? [];
      list.push(l);
      byPath.set(String(l.path), list);
    }

    const problems: string[] = [];
    const wantClass = new Map<string, number>(); // "pool|class" -> count
    let wantDisconnected = 0;
    const wantRetries = new Map<string, number>();
    const wantErrors = new Map<string, number>(); // "pool|member|kind"
    const bump = (m: Map<string, number>, k: string, by = 1): void => {
      m.set(k, (m.get(k) ?? 0) + by);
    };

    for (const p of planned) {
      const c = seen.get(p.id) as Seen;
      const got = byPath.get(p.path) ?? [];
      const attempts = book.attempts.get(p.id) ?? [];
      const where = `${p.path} (${p.client}) client saw ${JSON.stringify(c)}, members saw ${JSON.stringify(attempts)}`;
      if (got.length !== 1) {
        problems.push(`${where}: ${got.length} access lines ${JSON.stringify(got)}`);
        continue;
      }
      const line = got[0];
      const here = `${where}, line ${JSON.stringify(line)}`;
      // The status the client saw; a client that left before any answer: 499, nginx's.
      const status = c.status !== 0 ? c.status : 499;
      if (line.status !== status)
        problems.push(`${here}: logged status ${line.status}, client saw ${status}`);
      if (p.client === "nokey") {
        if (line.member !== "") problems.push(`${here}: a missing-key answer names a member`);
        if (attempts.length !== 0) problems.push(`${here}: a member saw a missing-key request`);
      } else {
        // A client cut at its FIN (499) may be cut while a retry is on its way: that last
        // attempt was made (logged, counted in retries_total) but no member saw it.
        const cutInFlight = status === 499 && Number(line.attempts) === attempts.length + 1;
        const last = attempts.at(-1);
        // A refused connect is the last attempt when it failed the request (members never see it).
        const answered = line.error === "upstream_connect_failed" && p.pool === "dead" ? "d0" : last?.member;
        if (line.member !== answered && !cutInFlight)
          problems.push(`${here}: logged member ${line.member}, the last attempt went to ${answered}`);
        // Body bytes: what the client read is what the answering member wrote (a shardgate
        // error answer aside, and bar a client that left midway).
        if (last !== undefined && !c.left && c.status !== 0 && c.status < 500 && c.bytes !== last.bytes)
          problems.push(`${here}: client read ${c.bytes} body bytes, member wrote ${last.bytes}`);
        const unseen = Number(line.attempts) - attempts.length;
        if (p.pool === "dead") {
          if (unseen < 0 || unseen > (cutInFlight ? 2 : 1))
            problems.push(`${here}: ${unseen} attempts no member saw`);
          else if (!cutInFlight) bump(wantErrors, "dead|d0|connect", unseen);
        } else if (unseen !== 0 && !cutInFlight)
          problems.push(`${here}: logged attempts ${line.attempts}, members saw ${attempts.length}`);
      }
      bump(wantRetries, p.pool, Math.max(0, Number(line.attempts) - 1));
      for (const a of attempts) {
        if (a.fault === "reset") bump(wantErrors, `${p.pool}|${a.member}|reset`);
        if (a.fault === "slow") bump(wantErrors, `${p.pool}|${a.member}|timeout`);
      }
      if (line.error === "downstream_disconnected") wantDisconnected++;
      if (c.left && c.status !== 0 && line.error !== "downstream_disconnected")
        problems.push(`${here}: the client left after the head; logged error ${line.error}`);
      bump(wantClass, `${p.pool}|${Math.floor(status / 100)}xx`);
    }
    if (lines.length !== planned.length)
      problems.push(`${lines.length} access lines for ${planned.length} requests`);

    // At rest: in-flight gauges back to 0 (the last cut requests may still be ending).
    const text = await eventually(
      "in-flight gauges at 0",
      async () => {
        const t = await (await fetch(`${shardgate.adminUrl}/metrics`)).text();
        const s = parsePromSamples(t);
        return sumOf(s, "shardgate_requests_in_flight") === 0 &&
          sumOf(s, "shardgate_member_requests_in_flight") === 0
          ? t
          : undefined;
      },
      30_000,
    );
    const samples = parsePromSamples(text);
    for (const pool of ["main", "dead"]) {
      let total = 0;
      for (const cls of ["1xx", "2xx", "3xx", "4xx", "5xx"]) {
        const have = sumOf(samples, "shardgate_requests_total", { pool, code_class: cls });
        const want = wantClass.get(`${pool}|${cls}`) ?? 0;
        total += have;
        if (have !== want)
          problems.push(`requests_total{pool=${pool},code_class=${cls}} ${have}, clients saw ${want}`);
      }
      const count = sumOf(samples, "shardgate_request_duration_seconds_count", { pool });
      if (count !== total)
        problems.push(`request_duration_seconds_count{pool=${pool}} ${count}, requests_total ${total}`);
      const retries = sumOf(samples, "shardgate_retries_total", { pool });
      if (retries !== (wantRetries.get(pool) ?? 0))
        problems.push(
          `retries_total{pool=${pool}} ${retries}, attempts beyond the first ${wantRetries.get(pool) ?? 0}`,
        );
      for (const m of pool === "main" ? ["m1", "m2", "m3"] : ["d0", "d1"])
        for (const kind of ["connect", "reset", "timeout"]) {
          const have = sumOf(samples, "shardgate_upstream_errors_total", { pool, member: m, kind });
          const want = wantErrors.get(`${pool}|${m}|${kind}`) ?? 0;
          if (have !== want)
            problems.push(
              `upstream_errors_total{pool=${pool},member=${m},kind=${kind}} ${have}, injected ${want}`,
            );
        }
    }
    const disconnected = sumOf(samples, "shardgate_downstream_client_errors_total", {
      code: "downstream_disconnected",
    });
    if (disconnected !== wantDisconnected)
      problems.push(
        `downstream_client_errors_total{downstream_disconnected} ${disconnected}, lines say ${wantDisconnected}`,
      );

    // The schedule must have produced every kind of event compared above, or agreement proves little.
    const pids = new Set(lines.map((l) => l.pid));
    const happened: Array<[string, number]> = [
      ["499 answers", wantClass.get("main|4xx") ?? 0],
      ["downstream_disconnected", wantDisconnected],
      ["retries", wantRetries.get("main") ?? 0],
      ["refused connects", wantErrors.get("dead|d0|connect") ?? 0],
      ["resets", ["m1", "m2", "m3"].reduce((n, m) => n + (wantErrors.get(`main|${m}|reset`) ?? 0), 0)],
      ["timeouts", ["m1", "m2", "m3"].reduce((n, m) => n + (wantErrors.get(`main|${m}|timeout`) ?? 0), 0)],
      ["processes writing access lines", pids.size >= o.workers ? 1 : 0],
    ];
    for (const [what, n] of happened) if (n === 0) problems.push(`the schedule produced no ${what}`);

    const promtool = await promtoolCheckMetrics(text);
    if (promtool.code !== 0) problems.push(`promtool check metrics: ${promtool.out}`);

    return problems;
  }
}
