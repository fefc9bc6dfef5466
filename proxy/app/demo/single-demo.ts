// `shardgate demo --single [--port 8080] [--admin-port 9901]` (the pre-fleet demo): a complete local setup with no outside
// services: three built-in echo upstreams on loopback, shardgate in front of them with a
// built-in config (a ring pool of 3 keyed on header:x-user-id, cookie:uid, query:user, ip),
// and curl lines that show sticky routing and the admin API. Runs until Ctrl-C.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp } from "../../app.js";
import { parseCommandFlags } from "../command-flags.js";
import { type EchoUpstream, startEchoUpstream } from "../echo-upstream.js";
import { runUntilSignalled } from "../process-lifecycle.js";
import { demoRoutingYaml } from "./demo-routing.js";

const USAGE = "usage: shardgate demo --single [--port 8080] [--admin-port 9901]";
const MEMBERS = ["d1", "d2", "d3"];

export function parsePort(text: string | undefined, dflt: number, flag: string): number | string {
  if (text === undefined) return dflt;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535)
    return `--${flag} expects a port 0-65535, got "${text}"`;
  return Number(text);
}

function demoConfig(port: number, adminPort: number, token: string, upstreams: EchoUpstream[]): string {
  return `# Written by \`shardgate demo\`; edit and send SIGHUP (or POST /admin/reload) to reload.
listen:
  http: 127.0.0.1:${port}
  admin: 127.0.0.1:${adminPort}
admin:
  token: "${token}"
log:
  level: info
  accessLog: true
headers:
  memberHeader: x-shardgate-member
${demoRoutingYaml(upstreams)}`;
}

export async function runSingleDemo(argv: string[]): Promise<number> {
  const flags = parseCommandFlags("demo", USAGE, argv, {
    port: { type: "string" },
    "admin-port": { type: "string" },
  });
  if (!flags.ok) return flags.exitCode;
  const port = parsePort(flags.values.port, 8080, "port");
  const adminPort = parsePort(flags.values["admin-port"], 9901, "admin-port");
  if (typeof port === "string" || typeof adminPort === "string") {
    console.error(`shardgate demo: ${typeof port === "string" ? port : adminPort}\n${USAGE}`);
    return 2;
  }

  const upstreams: EchoUpstream[] = [];
  const dir = mkdtempSync(join(tmpdir(), "shardgate-demo-"));
  const cleanup = async (): Promise<void> => {
    await Promise.all(upstreams.map((u) => u.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const id of MEMBERS) upstreams.push(await startEchoUpstream(id));
    const token = randomBytes(12).toString("hex");
    const configPath = join(dir, "shardgate-demo.yaml");
    writeFileSync(configPath, demoConfig(port, adminPort, token, upstreams));
    const started = await startApp({ configPath, drainTimeoutMs: 5_000 });
    if (!started.ok) {
      if (started.kind === "listen") {
        console.error(`shardgate demo: ${started.message}`);
        console.error("pick free ports with: shardgate demo --port 8081 --admin-port 9902");
      } else {
        console.error(`shardgate demo: built-in config rejected (a bug):\n${started.text}`);
      }
      await cleanup();
      return 1;
    }
    const app = started.app;
    const proxy = `http://${app.httpAddress}`;
    const admin = `http://${app.adminAddress}`;
    const alice = app.dataPlane.explain("demo", "alice")?.member ?? "?";
    console.log(
      [
        "",
        "shardgate demo is running (Ctrl-C to stop)",
        "",
        `  proxy      ${proxy}`,
        `  admin      ${admin}`,
        `  upstreams  ${upstreams.map((u) => `${u.id}=${u.address}`).join("  ")}`,
        `  config     ${configPath}`,
        "",
        `Sticky routing: key "alice" goes to ${alice}, every time:`,
        `  curl -s -H 'x-user-id: alice' ${proxy}/`,
        `  curl -s -H 'x-user-id: alice' ${proxy}/`,
        `  curl -s -H 'x-user-id: alice' ${proxy}/`,
        "Why that member (key hash, ring owner, skipped members):",
        `  curl -s '${admin}/admin/route?pool=demo&key=alice'`,
        "Other key sources (query, cookie):",
        `  curl -s '${proxy}/?user=bob'`,
        `  curl -s --cookie uid=carol ${proxy}/`,
        "State and metrics:",
        `  curl -s ${admin}/admin/state`,
        `  curl -s ${admin}/metrics | grep '^shardgate_requests_total'`,
        `Drain alice's member and watch her move (undrain to move back):`,
        `  curl -s -X POST -H 'authorization: Bearer ${token}' ${admin}/admin/pools/demo/members/${alice}/drain`,
        "",
      ].join("\n"),
    );
    const code = await runUntilSignalled(app).exited;
    await cleanup();
    return code;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
