// `shardgate ctl <command>`: a thin client for a running instance's admin API, so operators
// do not have to remember curl flags. Prints the JSON answer; exits 0 on 2xx, 1 otherwise.
//
//   shardgate ctl [--admin http://127.0.0.1:9901] [--token T] state | ready | reload
//                 | route POOL KEY | drain POOL MEMBER | undrain POOL MEMBER
// The token may also come from SHARDGATE_ADMIN_TOKEN.

import { parseArgs } from "node:util";

const USAGE = `usage: shardgate ctl [--admin URL] [--token TOKEN] <command>
commands:
  state                  pools, members, health, drain, ring version
  ready                  readiness (exit 1 when not ready)
  route POOL KEY         which member KEY goes to now, and why
  drain POOL MEMBER      stop sending new requests to MEMBER (needs the token)
  undrain POOL MEMBER    resume sending requests to MEMBER (needs the token)
  reload                 re-read the config file (needs the token)
  recover --force-new-cluster --config FILE   (offline) a stopped survivor becomes a one-voter cluster
--admin defaults to http://127.0.0.1:9901; --token defaults to $SHARDGATE_ADMIN_TOKEN.`;

interface Call {
  method: "GET" | "POST";
  path: string;
}

function plan(cmd: string, args: string[]): Call | string {
  const need = (n: number): string | undefined =>
    args.length === n ? undefined : `"${cmd}" takes ${n} argument${n === 1 ? "" : "s"}, got ${args.length}`;
  const seg = encodeURIComponent;
  switch (cmd) {
    case "state":
      return need(0) ?? { method: "GET", path: "/admin/state" };
    case "ready":
      return need(0) ?? { method: "GET", path: "/readyz" };
    case "reload":
      return need(0) ?? { method: "POST", path: "/admin/reload" };
    case "route":
      return need(2) ?? { method: "GET", path: `/admin/route?pool=${seg(args[0])}&key=${seg(args[1])}` };
    case "drain":
    case "undrain":
      return (
        need(2) ?? { method: "POST", path: `/admin/pools/${seg(args[0])}/members/${seg(args[1])}/${cmd}` }
      );
    default:
      return `unknown command "${cmd}"`;
  }
}

export async function run(argv: string[]): Promise<number> {
  // Offline disaster recovery on a stopped instance's data directory (its own module).
  if (argv[0] === "recover") return (await import("./ctl-recover.js")).run(argv.slice(1));
  let admin: string;
  let token: string;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        admin: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
    if (parsed.values.help) {
      console.log(USAGE);
      return 0;
    }
    admin = (parsed.values.admin ?? "http://127.0.0.1:9901").replace(/\/+$/, "");
    token = parsed.values.token ?? process.env.SHARDGATE_ADMIN_TOKEN ?? "";
    positionals = parsed.positionals;
  } catch (err) {
    console.error(`shardgate ctl: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  const [cmd, ...rest] = positionals;
  if (cmd === undefined) {
    console.error(USAGE);
    return 2;
  }
  const call = plan(cmd, rest);
  if (typeof call === "string") {
    console.error(`shardgate ctl: ${call}\n${USAGE}`);
    return 2;
  }
  if (!/^https?:\/\//.test(admin)) {
    console.error(`shardgate ctl: --admin expects a URL like http://127.0.0.1:9901, got "${admin}"`);
    return 2;
  }
  let res: Response;
  try {
    res = await fetch(`${admin}${call.path}`, {
      method: call.method,
      headers: token === "" ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const c = (err as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } })
      .cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message;
    console.error(
      `shardgate ctl: cannot reach the admin API at ${admin}: ${cause ?? (err as Error).message}`,
    );
    return 1;
  }
  const text = await res.text();
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    console.log(text);
  }
  return res.ok ? 0 : 1;
}
