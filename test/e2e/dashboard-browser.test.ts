// The dashboard in a real headless browser (Debian's chromium driven by playwright-core)
// against a running 3-instance fleet: one page per instance. Each shows the fleet's Raft view
// with one agreed leader, the members, the ring with hover owners and the route explainer;
// a drain clicked on one page shows up on every page and in every instance's state; after
// the leader is killed, the surviving pages show the new leader and the dead instance as
// unreachable. No request leaves the admin port (checked at the browser's network layer).
// A screenshot is kept under test-artifacts/ (git-ignored).

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { staticPoolYaml } from "../support/cluster/static-pool.js";
import { FleetCluster, type FleetNode } from "../support/cluster-launcher.js";
import { type ConsulTarget, consulTarget } from "../support/consul/target.js";
import { testSeed } from "../support/prng.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(1403);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/", import.meta.url));
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const WAIT_MS = 30_000;

/** The fleet table as the page shows it: instance id -> {role, leader, ring}. */
async function fleetRows(page: Page): Promise<Map<string, { role: string; leader: string; ring: string }>> {
  const rows = await page.$$eval("#fleet tbody tr", (trs) =>
    trs.map((tr) => {
      const td = [...tr.querySelectorAll("td")].map((c) => c.textContent ?? "");
      return { id: td[0].replace(" (this)", ""), role: td[1], leader: td[3], ring: td[7] };
    }),
  );
  return new Map(rows.map((r) => [r.id, r]));
}

describe("dashboard in headless chromium against a 3-instance fleet", () => {
  let consul: ConsulTarget;
  let ups: EchoUpstream[];
  let cluster: FleetCluster;
  let browser: Browser;
  const outside: string[] = [];
  const pages = new Map<string, Page>();

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
    consul = await consulTarget({ seed: SEED });
    ups = await startUpstreams(4, "w");
    cluster = await FleetCluster.start({
      ids: ["a", "b", "c"],
      voters: 3,
      consulAddress: consul.address,
      routingYaml: staticPoolYaml(ups),
      adminFleet: true,
      accessLog: false,
      // Slower elections than the launcher's default: on a loaded machine a spurious election
      // between reading the fleet's state and reading a page would make the two disagree.
      electionTimeoutMs: 1_500,
      heartbeatMs: 150,
    });
    await cluster.waitConverged({ timeoutMs: WAIT_MS });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const admins = new Set(cluster.nodes.map((n) => new URL(n.adminUrl).host));
    await context.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (admins.has(u.host)) return route.continue();
      outside.push(u.href);
      return route.abort();
    });
    for (const n of cluster.nodes) {
      const page = await context.newPage();
      await page.goto(`${n.adminUrl}/ui`);
      pages.set(n.id, page);
    }
  });
  after(async () => {
    await browser?.close();
    const left = await cluster?.stop();
    await closeAll(ups ?? []);
    await consul?.close();
    assert.deepEqual(left ?? [], [], "no shardgate process outlives the test");
  });

  test("every page shows the fleet with one agreed leader, the members and the ring", async () => {
    const c = await cluster.waitConverged({ timeoutMs: WAIT_MS });
    for (const [id, page] of pages) {
      // Wait until the page shows one agreed leader (every row names it, it alone says leader).
      await page.waitForFunction(
        ([n, lead]) => {
          const rows = [...document.querySelectorAll("#fleet tbody tr")];
          if (rows.length !== n) return false;
          return rows.every((tr) => {
            const td = [...tr.querySelectorAll("td")].map((c) => c.textContent ?? "");
            const id = td[0].replace(" (this)", "");
            return td[3] === lead && td[1] === (id === lead ? "leader" : "follower");
          });
        },
        [cluster.nodes.length, c.leader] as const,
        { timeout: WAIT_MS },
      );
      const rows = await fleetRows(page);
      assert.deepEqual([...rows.keys()].sort(), ["a", "b", "c"], `page of ${id}`);
      await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 4, null, {
        timeout: WAIT_MS,
      });
      const members = await page.$$eval("#members tbody tr", (trs) =>
        trs.map((tr) => `${tr.getAttribute("data-member")}:${tr.querySelectorAll("td")[2].textContent}`),
      );
      assert.deepEqual(members.sort(), ups.map((u) => `${u.id}:healthy`).sort(), `page of ${id}`);
      await page.waitForSelector("#ring path.arc", { timeout: WAIT_MS });
      const arcOwners = new Set(
        await page.$$eval("#ring path.arc", (ps) => ps.map((p) => p.getAttribute("data-member"))),
      );
      assert.deepEqual([...arcOwners].sort(), ups.map((u) => u.id).sort(), "every member owns arcs");
      const legend = await page.$$eval("#legend li", (lis) => lis.map((l) => l.textContent ?? ""));
      const shares = legend.map((t) => Number(/([\d.]+)%$/.exec(t)?.[1]));
      const total = shares.reduce((x, y) => x + y, 0);
      assert.ok(Math.abs(total - 100) < 1, `shares add up to 100%: ${legend.join(" | ")}`);
    }
  });

  test("hovering an arc names its owner; the explainer agrees with /admin/route", async (t) => {
    const page = pages.get("a") as Page;
    // The widest arc, hovered at its centre (mid angle, mid radius), without force. The first
    // arc was hovered with force at its box centre: most arcs are under a pixel wide, and at
    // whole-pixel points 134 of 473 box centres are on a neighbour's arc, so a sub-pixel shift
    // could show the neighbour's owner (the lead for this test's one unexplained failure). The
    // arc's width is read from its own path (arcPath in dashboard-script.ts: M outer start,
    // A ... outer end, around 150,150).
    const widest = await page.$$eval("#ring path.arc", (ps) => {
      const angle = (x: number, y: number) => Math.atan2(x - 150, 150 - y);
      let best = { index: -1, span: -1, mid: 0 };
      ps.forEach((p, index) => {
        const n = (p.getAttribute("d") ?? "").match(/-?\d+(?:\.\d+)?(?:e-?\d+)?/g)?.map(Number) ?? [];
        // n: M x0 y0 A r r 0 large 1 x1 y1 ... (outer arc, clockwise from x0,y0 to x1,y1).
        const a0 = angle(n[0], n[1]);
        let span = angle(n[7], n[8]) - a0;
        if (span <= 0) span += 2 * Math.PI;
        if (span > best.span) best = { index, span, mid: a0 + span / 2 };
      });
      const path = ps[best.index] as SVGPathElement;
      const ctm = path.getScreenCTM() as DOMMatrix;
      const at = new DOMPoint(150 + 100 * Math.sin(best.mid), 150 - 100 * Math.cos(best.mid)).matrixTransform(
        ctm,
      );
      const box = path.getBoundingClientRect();
      return {
        index: best.index,
        // The arc's width in CSS pixels along the middle radius.
        widthPx: best.span * 100 * ctm.a,
        position: { x: at.x - box.left, y: at.y - box.top },
        client: { x: at.x, y: at.y },
      };
    });
    assert.ok(
      widest.widthPx >= 4,
      `the widest arc is ${widest.widthPx.toFixed(2)} px wide: too narrow to hover`,
    );
    t.diagnostic(`hovering arc ${widest.index}, ${widest.widthPx.toFixed(1)} px wide`);
    const arc = page.locator("#ring path.arc").nth(widest.index);
    const owner = await arc.getAttribute("data-member");
    // No force: Playwright checks the arc is stable and is what the pointer hits at that point.
    await arc.hover({ position: widest.position });
    const under = await page.evaluate(
      ({ x, y }) => document.elementFromPoint(x, y)?.getAttribute("data-member") ?? null,
      widest.client,
    );
    assert.equal(under, owner, "the element under the mouse is the hovered arc");
    await page.waitForFunction(() => (document.getElementById("tip")?.style.display ?? "") === "block");
    assert.match((await page.textContent("#tip")) ?? "", new RegExp(`^owner ${owner} `));
    await page.fill("#key", "alice");
    await page.click("#explain button");
    await page.waitForSelector("#explain-out [data-field=member]");
    const route = await cluster.routeOf(cluster.nodes[0], "web", "alice");
    assert.equal(await page.textContent("#explain-out [data-field=member]"), `member: ${route.member}`);
    assert.match(
      (await page.textContent("#explain-out [data-field=owner]")) ?? "",
      new RegExp(`ring owner: ${route.owner} `),
    );
    assert.equal(await page.locator("#key-marker").count(), 1, "the key is marked on the ring");
  });

  test("a drain without the token is refused on the page; with it, every page and instance shows it", async () => {
    const c = await cluster.waitConverged({ timeoutMs: WAIT_MS });
    const follower = cluster.nodes.find((n) => n.id !== c.leader) as FleetNode;
    const page = pages.get(follower.id) as Page;
    const victim = ups[1].id;
    const button = `#members tr[data-member="${victim}"] button[data-action=drain]`;
    await page.fill("#token", "");
    await page.click(button);
    await page.waitForFunction(() =>
      /refused \(unauthorized\)/.test(document.getElementById("status")?.textContent ?? ""),
    );
    await page.fill("#token", cluster.adminToken);
    await page.click(button);
    await page.waitForFunction(
      () => /committed at ring version \d+/.test(document.getElementById("status")?.textContent ?? ""),
      null,
      {
        timeout: WAIT_MS,
      },
    );
    const version = Number(/ring version (\d+)/.exec((await page.textContent("#status")) ?? "")?.[1]);
    await cluster.waitAll(
      `${victim} draining`,
      (s) => s.pools.web?.members.find((m) => m.id === victim)?.draining === true,
    );
    for (const [id, p] of pages) {
      await p.waitForFunction(
        (m) =>
          document.querySelector(`#members tr[data-member="${m}"]`)?.getAttribute("data-draining") === "true",
        victim,
        { timeout: WAIT_MS },
      );
      await p.waitForFunction(
        (v) =>
          [...document.querySelectorAll("#fleet tbody tr")].every(
            (tr) => Number(tr.querySelectorAll("td")[7].textContent) >= v,
          ),
        version,
        { timeout: WAIT_MS },
      );
      const causes = await p.$$eval("#changes li", (lis) => lis.map((l) => l.getAttribute("data-cause")));
      assert.ok(causes.includes("operator"), `page of ${id} lists the operator change: ${causes.join(",")}`);
    }
    await page.click(`#members tr[data-member="${victim}"] button[data-action=undrain]`);
    await cluster.waitAll(
      `${victim} undrained`,
      (s) => s.pools.web?.members.find((m) => m.id === victim)?.draining === false,
    );
  });

  test("kill the leader: the surviving pages show the new leader and the dead instance", async () => {
    const c = await cluster.waitConverged({ timeoutMs: WAIT_MS });
    const old = cluster.node(c.leader);
    await cluster.kill9(old);
    const after = await cluster.waitConverged({
      timeoutMs: WAIT_MS,
      accept: (s) => s.raft.leader !== old.id,
    });
    assert.notEqual(after.leader, old.id);
    for (const n of cluster.live()) {
      const page = pages.get(n.id) as Page;
      await page.waitForFunction(
        ([dead, lead]) => {
          const rows = [...document.querySelectorAll("#fleet tbody tr")];
          const role = (id: string) =>
            rows.find((r) => r.getAttribute("data-instance") === id)?.getAttribute("data-role");
          return (
            role(lead) === "leader" &&
            rows.some((r) => r.getAttribute("data-role") === "unreachable") &&
            role(dead) !== "leader"
          );
        },
        [old.id, after.leader],
        { timeout: WAIT_MS },
      );
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "dashboard.png");
    await (pages.get(after.leader) as Page).screenshot({ path: shot, fullPage: true });
    assert.ok(existsSync(shot));
    assert.deepEqual(outside, [], "the page requested nothing outside the admin port");
  });
});
