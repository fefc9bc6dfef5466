// The dashboard's Signals panel in headless chromium (playwright-core) against a real shardgate:
// last round's metric families, which only /metrics had, are on the page with the values the
// instance exports. The member is addressed as `localhost:PORT`, so its connects look the name
// up (answered from /etc/hosts: shardgate_dns_cache_hits_total); a raw client that leaves after
// the first bytes of a streamed answer is counted as downstream_disconnected; a one-instance
// fleet has no refused snapshot. Before, the page had no such panel (the test fails on the old
// code at its first wait: no #signals rows).

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { rawSession } from "../support/raw-socket.js";
import {
  eventually,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"];
const WAIT_MS = scaled(30_000);

async function metrics(sg: RunningShardgate): Promise<string> {
  return (await fetch(`${sg.adminUrl}/metrics`)).text();
}

/** The panel's row `id` as [label, total, per second], or undefined while it is not shown. */
function row(page: Page, id: string): Promise<[string, string, string] | undefined> {
  return page.$$eval(
    "#signals tbody tr",
    (trs, want) => {
      const tr = trs.find((t) => t.getAttribute("data-signal") === want);
      if (tr === undefined) return undefined;
      const td = [...tr.querySelectorAll("td")].map((c) => c.textContent ?? "");
      return [td[0], td[1], td[2]] as [string, string, string];
    },
    id,
  );
}

describe("dashboard: the Signals panel shows the instance's DNS, snapshot and client-error figures", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
    ups = await startUpstreams(1, "sig");
    ups[0].mode = { kind: "slowStream", chunks: 600, everyMs: 100 };
    sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { accessLog: false }
pools:
  users:
    members: [{ id: sig1, address: "localhost:${ups[0].port}" }]
    timeouts: { response: 120s }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("DNS lookups: the page shows the count /metrics has, and a rate", async () => {
    // A request that connects to localhost: at least one lookup answered from /etc/hosts.
    const port = Number(new URL(sg.httpUrl).port);
    const first = await rawSession(port, WAIT_MS, (s) => {
      s.write("GET /dns HTTP/1.1\r\nHost: a\r\nx-user-id: u1\r\n\r\n");
      s.on("data", (d: Buffer) => {
        if (d.toString("latin1").includes("chunk-")) s.destroy();
      });
    });
    assert.match(first.reply, /^HTTP\/1\.1 200 /, JSON.stringify(first.reply.slice(0, 200)));
    const before = await eventually("a DNS cache hit on /metrics", async () => {
      const n = metricValue(await metrics(sg), "shardgate_dns_cache_hits_total", {});
      return n !== undefined && n > 0 ? n : undefined;
    });
    await page.goto(`${sg.adminUrl}/ui`);
    await page.waitForFunction(
      () =>
        document.querySelector('#signals tbody tr[data-signal="shardgate_dns_cache_hits_total"]') !== null,
      null,
      { timeout: WAIT_MS },
    );
    const hits = await row(page, "shardgate_dns_cache_hits_total");
    const afterHits = metricValue(await metrics(sg), "shardgate_dns_cache_hits_total", {}) ?? -1;
    assert.ok(hits !== undefined);
    assert.equal(hits[0], "DNS answered from memory or /etc/hosts");
    const shown = Number(hits[1]);
    assert.ok(
      shown >= before && shown <= afterHits,
      `shown ${hits[1]}, /metrics ${before} before and ${afterHits} after`,
    );
    // Every DNS family is there, with a number.
    for (const id of [
      "shardgate_dns_queries_total",
      "shardgate_dns_getaddrinfo_calls_total",
      "shardgate_dns_getaddrinfo_in_flight",
      "shardgate_dns_timeouts_total",
      "shardgate_dns_failures_total:not_found",
      "shardgate_dns_failures_total:server_failure",
    ]) {
      const r = await row(page, id);
      assert.ok(r !== undefined && /^\d+$/.test(r[1]), `${id}: ${JSON.stringify(r)}`);
    }
    // From the second poll on, counters have a rate.
    await page.waitForFunction(
      () =>
        /^\d/.test(
          document.querySelector(
            '#signals tbody tr[data-signal="shardgate_dns_cache_hits_total"] td[data-field="rate"]',
          )?.textContent ?? "",
        ),
      null,
      { timeout: WAIT_MS },
    );
  });

  test("a client gone mid-answer shows as downstream_disconnected; no snapshot refused", async () => {
    const metricsBefore = await metrics(sg);
    const was = metricValue(metricsBefore, "shardgate_downstream_client_errors_total", {
      code: "downstream_disconnected",
    });
    const port = Number(new URL(sg.httpUrl).port);
    await rawSession(port, WAIT_MS, (s) => {
      s.write("GET /gone HTTP/1.1\r\nHost: a\r\nx-user-id: u2\r\n\r\n");
      s.on("data", (d: Buffer) => {
        if (d.toString("latin1").includes("chunk-")) s.destroy();
      });
    });
    const now = await eventually("one more downstream_disconnected on /metrics", async () => {
      const n = metricValue(await metrics(sg), "shardgate_downstream_client_errors_total", {
        code: "downstream_disconnected",
      });
      return n !== undefined && n > (was ?? 0) ? n : undefined;
    });
    await page.waitForFunction(
      (want) =>
        document.querySelector(
          '#signals tbody tr[data-signal="shardgate_downstream_client_errors_total:downstream_disconnected"] td[data-field="total"]',
        )?.textContent === String(want),
      now,
      { timeout: WAIT_MS },
    );
    const r = await row(page, "shardgate_downstream_client_errors_total:downstream_disconnected");
    assert.deepEqual(r?.slice(0, 2), ["client errors: downstream_disconnected", String(now)]);
    const none = await row(page, "shardgate_raft_snapshots_refused_by_peers_total:none");
    assert.deepEqual(none?.slice(0, 2), ["snapshots refused by peer: none", "0"]);
    await page
      .screenshot({ path: "test-artifacts/dashboard-signals.png", fullPage: true })
      .catch(() => undefined);
  });
});

test("with workers: 2 the panel says to use /metrics instead of showing the primary's zeros", {
  timeout: 180_000,
}, async () => {
  assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { accessLog: false }
pools:
  users:
    members: [{ id: w1, address: "127.0.0.1:9" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
    { args: ["--workers", "2"] },
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const feed = (await (await fetch(`${sg.adminUrl}/admin/dashboard`)).json()) as { signals?: unknown };
    assert.equal(feed.signals, null, "the feed has no signals under workers");
    const page = await browser.newPage();
    await page.goto(`${sg.adminUrl}/ui`);
    await page.waitForFunction(
      () => /^not shown with workers: N/.test(document.getElementById("signals-note")?.textContent ?? ""),
      null,
      { timeout: WAIT_MS },
    );
    assert.equal(await page.$$eval("#signals tbody tr", (trs) => trs.length), 0);
    // The rest of the page still draws (the fleet row of this instance).
    await page.waitForFunction(() => document.querySelectorAll("#fleet tbody tr").length === 1, null, {
      timeout: WAIT_MS,
    });
  } finally {
    await browser.close();
    await sg.stop();
  }
});
