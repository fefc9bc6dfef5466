// `shardgate ctl [--admin URL]... [--token T] [--timeout D] [--json] <command>`: every operator action on a
// running fleet through any instance's admin API (see proxy/ctl/commands.ts for the commands).
// Human tables by default, the API's JSON with --json. Exit 0 on success, 1 when the instance
// is unreachable or refuses (the coded reason is printed), 2 on a usage mistake.
// The token comes from --token or SHARDGATE_ADMIN_TOKEN. --timeout bounds each admin call
// (the config's duration syntax; default 15s): a slow link or a big snapshot may need more, a
// script probing many instances less.

import { parseArgs } from "node:util";
import { parseCliDuration } from "../../config/file/units.js";
import { MAX_LINE, printableLine, printableLines } from "../../config/printable.js";
import { flagErrorText } from "../app/command-flags.js";
import { outputFailed, printOut } from "../app/std-streams.js";
import { AdminClient, CtlError } from "../ctl/admin-client.js";
import { COMMANDS } from "../ctl/commands.js";
import { terminalJson } from "../ctl/tables.js";
import { UsageError } from "./usage-error.js";

/** How long one admin call may take without --timeout. */
const DEFAULT_TIMEOUT_MS = 15_000;

const USAGE = `usage: shardgate ctl [--admin URL]... [--token TOKEN] [--timeout DURATION] [--json] <command>
commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join("\n")}
  recover --force-new-cluster --config FILE   (offline) a stopped survivor becomes a one-voter cluster
--admin defaults to http://127.0.0.1:9901 (give several, or a comma-separated list, for status);
--token defaults to $SHARDGATE_ADMIN_TOKEN (needed by drain, undrain, breaker, leader, peers changes, reload);
--keys-file FILE (route) adds the keys of FILE, one a line ("-" reads stdin), asked 1,000 at a time;
--source S (route) reads the keys as a route's key source S does ("ip", "header:host", ...); without it
  an address spelling ("2001:DB8::1", "[::ffff:192.0.2.1]:80") is read as an ip key, other text as given;
--timeout bounds each admin call, a duration with its unit like 500ms, 30s, 1m30s (default 15s).`;

export async function run(argv: string[]): Promise<number> {
  // Offline disaster recovery on a stopped instance's data directory (its own module).
  if (argv[0] === "recover") return (await import("./ctl-recover.js")).run(argv.slice(1));
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      options: {
        admin: { type: "string", multiple: true },
        token: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean" },
        "keys-file": { type: "string" },
        source: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  }
  try {
    parsed = parse();
  } catch (err) {
    console.error(`shardgate ctl: ${printableLine(flagErrorText(err))}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const [cmd, ...rest] = parsed.positionals;
  const entry = cmd === undefined ? undefined : Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (entry === undefined) {
    console.error(
      `shardgate ctl: ${cmd === undefined ? "no command given" : `unknown command "${printableLine(cmd)}"`}\n${USAGE}`,
    );
    return 2;
  }
  const keysFile = parsed.values["keys-file"];
  if (keysFile !== undefined && cmd !== "route") {
    console.error(`shardgate ctl: --keys-file is for "route" only\n${USAGE}`);
    return 2;
  }
  const source = parsed.values.source;
  if (source !== undefined && cmd !== "route") {
    console.error(`shardgate ctl: --source is for "route" only\n${USAGE}`);
    return 2;
  }
  const admins = (parsed.values.admin ?? ["http://127.0.0.1:9901"])
    .flatMap((a) => a.split(","))
    .map((a) => a.trim().replace(/\/+$/, ""))
    .filter((a) => a !== "");
  // The shape, then a real parse: "http://[::1" or "http://h:99999" fit the shape but are no URL.
  const badUrl = admins.find((a) => !/^https?:\/\/[^/\s]+$/.test(a) || !URL.canParse(a));
  if (admins.length === 0 || badUrl !== undefined) {
    console.error(
      `shardgate ctl: --admin expects a URL like http://127.0.0.1:9901, got "${printableLine(badUrl ?? "")}"`,
    );
    return 2;
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (parsed.values.timeout !== undefined) {
    const t = parseCliDuration(parsed.values.timeout, undefined, 1);
    if (!t.ok) {
      console.error(
        `shardgate ctl: --timeout expects ${t.expected}, got "${printableLine(parsed.values.timeout)}"\n${USAGE}`,
      );
      return 2;
    }
    timeoutMs = t.value;
  }
  const token = parsed.values.token ?? process.env.SHARDGATE_ADMIN_TOKEN ?? "";
  const clients = admins.map((a) => new AdminClient(a, token, timeoutMs));
  try {
    const out = await entry.run({ clients, keysFile, source }, rest);
    // Admin answers may carry anything: nothing of them may drive the terminal (tables.ts).
    const failed = await printOut(parsed.values.json ? terminalJson(out.json) : printableLines(out.text));
    if (failed !== undefined) {
      console.error(outputFailed("ctl", failed));
      return 1;
    }
    return out.exitCode ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`shardgate ctl: ${printableLine(err.message)}\n${USAGE}`);
      return 2;
    }
    if (err instanceof CtlError) {
      console.error(`shardgate ctl: ${printableLines(err.message, MAX_LINE)}`);
      return 1;
    }
    throw err;
  }
}
