// The `shardgate ctl` commands: each one turns its arguments into admin API calls and returns
// the JSON answer plus a human rendering of it. Argument mistakes throw UsageError (exit 2);
// API failures throw CtlError (exit 1).

import { writeFileSync } from "node:fs";
import { codeOf, errorText } from "../../config/coded-error.js";
import type { LiveView, PeersView } from "../admin/ops-types.js";
import type { AdminStateView } from "../admin/types.js";
import { UsageError } from "../commands/usage-error.js";
import { type AdminClient, CtlError } from "./admin-client.js";
import { descriptorLines } from "./descriptor-rows.js";
import { route } from "./route-command.js";
import { table } from "./tables.js";

export interface CtlOutput {
  json: unknown;
  text: string;
  /** 1 when the command printed a partial answer (e.g. status with an instance down); default 0. */
  exitCode?: number;
}

export interface CtlContext {
  /** One client per --admin URL (the first is the one actions go to). */
  clients: readonly AdminClient[];
  /** --keys-file (route only): a file of keys, one a line; "-" is stdin. */
  keysFile?: string;
  /** --source (route only): the key source the keys are read as ("ip", "header:host", ...). */
  source?: string;
}

type Command = (ctx: CtlContext, args: string[]) => Promise<CtlOutput>;

const seg = encodeURIComponent;
/** The fields of an admin answer each command reads (AdminClient.ok checks they are there). */
const STATE = ["pools"];
const MEMBERSHIP = ["action", "id", "index", "voters", "learners"];

function need(cmd: string, args: string[], n: number, names: string): void {
  if (args.length !== n)
    throw new UsageError(`"${cmd}" takes ${names || "no arguments"}, got ${args.length} argument(s)`);
}

const yes = (b: boolean) => (b ? "yes" : "no");
const num = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? "-" : Number(v.toFixed(digits)).toString();

function clusterIdCell(id: string | null | undefined): string {
  if (id === undefined) return "-";
  return id === null ? "none" : id;
}

async function status(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  need("status", args, 0, "");
  // One instance down must not hide the others: each is read on its own.
  const read = await Promise.all(
    ctx.clients.map(async (c) => {
      try {
        const state = (await c.ok("GET", "/admin/state", STATE)) as AdminStateView;
        const peers = (await c.call("GET", "/admin/cluster/peers")).body as
          | PeersView
          | { error: string }
          | string;
        return {
          admin: c.base,
          state,
          peers: typeof peers !== "object" || peers === null || "error" in peers ? null : peers,
        };
      } catch (err) {
        return { admin: c.base, error: errorText(err), code: codeOf(err) };
      }
    }),
  );
  const down = read.filter(
    (v): v is { admin: string; error: string; code: string | undefined } => "error" in v,
  );
  const views = read.filter((v): v is Exclude<(typeof read)[number], { error: string }> => !("error" in v));
  if (views.length === 0)
    throw new CtlError(down[0]?.code ?? "unreachable", down.map((d) => d.error).join("; "));
  const first = views[0];
  const lines: string[] = [];
  lines.push(
    table(
      [
        "INSTANCE",
        "ROLE",
        "TERM",
        "LEADER",
        "COMMIT",
        "APPLIED",
        "RING",
        "LEVEL",
        "CLUSTER",
        "DEGRADED",
        "DRIFT",
        "ADMIN",
      ],
      views.map((v) => [
        v.state.raft?.id ?? "-",
        v.state.raft?.role ?? "-",
        v.state.raft?.term,
        v.state.raft?.leader || "none",
        v.state.raft?.commitIndex,
        v.state.raft?.appliedIndex,
        v.state.ringVersion,
        // This instance's feature level / the committed cluster level (README, Rolling upgrade).
        `${v.state.raft?.level ?? "-"}/${v.state.raft?.clusterLevel ?? "-"}`,
        // The cluster id this instance's data directory belongs to (README, Raft: Cluster
        // identity); "none" until the fleet fixed one, "-" from a version that does not say.
        clusterIdCell(v.state.raft?.clusterId),
        v.state.degraded ?? "no",
        yes(v.state.configDrift?.drift ?? false),
        v.admin,
      ]),
    ),
  );
  for (const d of down) lines.push(`unreachable: ${d.error}`);
  // Any process (a worker with `workers: N`) at its descriptor limit, named.
  lines.push(...descriptorLines(views));
  const peers = views.find((v) => v.peers?.role === "leader")?.peers ?? first.peers;
  if (peers !== null) {
    lines.push("", `Raft members (as seen by ${peers.id}; cluster level ${peers.clusterLevel ?? "-"}):`);
    lines.push(
      table(
        ["ID", "ROLE", "ADDRESS", "CONNECTED", "MATCH", "LAG", "LEVEL"],
        peers.peers.map((p) => [
          p.id + (p.id === peers.leader ? " *" : ""),
          p.role,
          p.address,
          p.self ? "self" : yes(p.connected),
          p.match,
          p.lag,
          p.level,
        ]),
      ),
    );
  }
  lines.push("", "Pools:");
  lines.push(
    table(
      ["POOL", "ALGORITHM", "RING", "MEMBERS", "AVAILABLE", "DRAINING", "BREAKER OPEN", "PANIC"],
      Object.entries(first.state.pools).map(([name, p]) => [
        name,
        p.algorithm,
        p.ringVersion,
        p.members.length,
        p.members.filter((m) => m.healthy && !m.draining && m.breaker === "closed").length,
        p.members.filter((m) => m.draining).length,
        p.members.filter((m) => m.breaker !== "closed").length,
        yes(first.state.panicPools?.includes(name) ?? false),
      ]),
    ),
  );
  return {
    json: [...views, ...down.map((d) => ({ admin: d.admin, error: d.error }))],
    text: lines.join("\n"),
    exitCode: down.length > 0 ? 1 : 0,
  };
}

async function members(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  need("members", args, 1, "POOL");
  const c = ctx.clients[0];
  const state = (await c.ok("GET", "/admin/state", STATE)) as AdminStateView;
  const pool = Object.hasOwn(state.pools, args[0]) ? state.pools[args[0]] : undefined;
  if (pool === undefined)
    throw new CtlError(
      "unknown_pool",
      `refused (unknown_pool): no pool named "${args[0]}" (pools: ${Object.keys(state.pools).join(", ")})`,
    );
  const live = (await c.call("GET", "/admin/live")).body as LiveView | undefined;
  const lv = live?.pools?.[args[0]] ?? {};
  const rows = pool.members.map((m) => ({ ...m, live: lv[m.id] ?? null }));
  return {
    json: { pool: args[0], ringVersion: pool.ringVersion, members: rows },
    text: table(
      [
        "MEMBER",
        "ADDRESS",
        "HEALTHY",
        "DRAINING",
        "BREAKER",
        "OVERRIDE",
        "SOURCE",
        "IN-FLIGHT",
        "RPS",
        "ERR%",
        "P50MS",
        "P99MS",
      ],
      rows.map((m) => [
        m.id,
        m.address,
        yes(m.healthy),
        yes(m.draining),
        m.breaker,
        m.breakerOverride,
        m.source,
        m.live?.inFlight,
        num(m.live?.rate),
        m.live === null ? "-" : num(m.live.errorRate * 100),
        num(m.live?.p50, 2),
        num(m.live?.p99, 2),
      ]),
    ),
  };
}

function drainCmd(draining: boolean): Command {
  const name = draining ? "drain" : "undrain";
  return async (ctx, args) => {
    need(name, args, 2, "POOL MEMBER");
    const r = (await ctx.clients[0].ok(
      "POST",
      `/admin/pools/${seg(args[0])}/members/${seg(args[1])}/${name}`,
      ["draining", "ringVersion"],
    )) as {
      draining: boolean;
      ringVersion: number;
    };
    return {
      json: r,
      text: `${args[0]}/${args[1]}: ${r.draining ? "draining" : "not draining"} (committed, ring version ${r.ringVersion})`,
    };
  };
}

async function breaker(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  need("breaker", args, 3, "POOL MEMBER open|close|auto");
  const mode = { open: "open", close: "closed", closed: "closed", auto: "auto" }[args[2]];
  if (mode === undefined) throw new UsageError(`breaker mode must be open, close or auto, got "${args[2]}"`);
  const r = (await ctx.clients[0].ok(
    "POST",
    `/admin/pools/${seg(args[0])}/members/${seg(args[1])}/breaker`,
    ["breaker", "override", "ringVersion"],
    {
      state: mode,
    },
  )) as { breaker: string; override: string; ringVersion: number };
  return {
    json: r,
    text: `${args[0]}/${args[1]}: breaker ${r.breaker} (override ${r.override}, committed, ring version ${r.ringVersion})`,
  };
}

async function leader(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  if (args[0] !== "transfer") throw new UsageError("usage: leader transfer ID");
  need("leader transfer", args.slice(1), 1, "ID");
  const r = (await ctx.clients[0].ok("POST", "/admin/cluster/transfer", ["leader", "term"], {
    id: args[1],
  })) as {
    leader: string;
    term: number;
  };
  return { json: r, text: `leader is now ${r.leader} (term ${r.term})` };
}

async function peers(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  const [sub, ...rest] = args;
  const c = ctx.clients[0];
  if (sub === "list" || sub === undefined) {
    need("peers list", rest, 0, "");
    const p = (await c.ok("GET", "/admin/cluster/peers", ["id", "peers"])) as PeersView;
    return {
      json: p,
      text: [
        `seen by ${p.id} (${p.role}, term ${p.term}); cluster id ${clusterIdCell(p.clusterId)}; leader ${p.leader || "none"}; commit ${p.commitIndex}, last ${p.lastIndex}`,
        table(
          ["ID", "ROLE", "ADDRESS", "CONNECTED", "MATCH", "LAG"],
          p.peers.map((x) => [x.id, x.role, x.address, x.self ? "self" : yes(x.connected), x.match, x.lag]),
        ),
      ].join("\n"),
    };
  }
  const describe = (r: { action: string; id: string; index: number; voters: string[]; learners: string[] }) =>
    `${r.action} ${r.id}: committed at index ${r.index}; voters ${r.voters.join(", ")}; learners ${r.learners.join(", ") || "none"}`;
  if (sub === "add-learner") {
    need("peers add-learner", rest, 2, "ID HOST:PORT");
    const r = (await c.ok("POST", "/admin/cluster/add-learner", MEMBERSHIP, {
      id: rest[0],
      address: rest[1],
    })) as Parameters<typeof describe>[0];
    return { json: r, text: describe(r) };
  }
  if (sub === "promote" || sub === "remove") {
    need(`peers ${sub}`, rest, 1, "ID");
    const r = (await c.ok("POST", `/admin/cluster/${sub}`, MEMBERSHIP, { id: rest[0] })) as Parameters<
      typeof describe
    >[0];
    return { json: r, text: describe(r) };
  }
  throw new UsageError(`peers: unknown subcommand "${sub}" (list, add-learner, promote, remove)`);
}

async function reload(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  need("reload", args, 0, "");
  const r = (await ctx.clients[0].ok("POST", "/admin/reload", ["ringVersion", "restartRequired"])) as {
    ringVersion: number;
    restartRequired: string[];
  };
  const restart =
    r.restartRequired.length > 0 ? `; needs a restart for: ${r.restartRequired.join(", ")}` : "";
  return { json: r, text: `reloaded (ring version ${r.ringVersion})${restart}` };
}

async function snapshot(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  if (args[0] !== "save") throw new UsageError("usage: snapshot save FILE");
  need("snapshot save", args.slice(1), 1, "FILE");
  const s = (await ctx.clients[0].ok("GET", "/admin/snapshot", ["node", "state"])) as {
    node: string;
    state: { appliedIndex: number; ringVersion: number };
  };
  const text = `${JSON.stringify(s, null, 2)}\n`;
  try {
    writeFileSync(args[1], text, { mode: 0o600 });
  } catch (err) {
    throw new CtlError("write_failed", `cannot write ${args[1]}: ${(err as Error).message}`);
  }
  const r = { file: args[1], bytes: Buffer.byteLength(text), node: s.node, ...s.state };
  return {
    json: {
      file: r.file,
      bytes: r.bytes,
      node: r.node,
      appliedIndex: s.state.appliedIndex,
      ringVersion: s.state.ringVersion,
    },
    text: `saved the replicated state from ${s.node} (applied index ${s.state.appliedIndex}, ring version ${s.state.ringVersion}) to ${args[1]} (${r.bytes} bytes)`,
  };
}

async function raw(
  ctx: CtlContext,
  path: string,
  args: string[],
  name: string,
  keys: readonly string[],
): Promise<CtlOutput> {
  need(name, args, 0, "");
  const r = await ctx.clients[0].call("GET", path);
  if (name === "ready" && r.status === 503) throw new CtlError("not_ready", `not ready: ${r.text.trim()}`);
  if (r.status >= 300) throw new CtlError(`http_${r.status}`, `refused (http_${r.status}): ${r.text.trim()}`);
  const body = ctx.clients[0].shaped("GET", path, r, keys);
  return { json: body, text: JSON.stringify(body, null, 2) };
}

export const COMMANDS: Record<string, { run: Command; usage: string; mutates: boolean }> = {
  status: {
    run: status,
    usage: "status                         the fleet at a glance (repeat --admin for every instance)",
    mutates: false,
  },
  members: {
    run: members,
    usage: "members POOL                   members with health, breaker, drain, live figures",
    mutates: false,
  },
  route: {
    run: route,
    usage: "route POOL KEY... [--keys-file F|-] [--source S]   which member each key goes to now, and why",
    mutates: false,
  },
  drain: {
    run: drainCmd(true),
    usage: "drain POOL MEMBER              stop sending new requests to MEMBER",
    mutates: true,
  },
  undrain: {
    run: drainCmd(false),
    usage: "undrain POOL MEMBER            resume sending requests to MEMBER",
    mutates: true,
  },
  breaker: {
    run: breaker,
    usage: "breaker POOL MEMBER open|close|auto   pin or release a member's breaker",
    mutates: true,
  },
  leader: {
    run: leader,
    usage: "leader transfer ID             hand Raft leadership to voter ID",
    mutates: true,
  },
  peers: {
    run: peers,
    usage: "peers list|add-learner ID HOST:PORT|promote ID|remove ID   Raft membership",
    mutates: true,
  },
  reload: { run: reload, usage: "reload                         re-read the config file", mutates: true },
  snapshot: {
    run: snapshot,
    usage: "snapshot save FILE             save a copy of the replicated state",
    mutates: false,
  },
  state: {
    run: (ctx, a) => raw(ctx, "/admin/state", a, "state", STATE),
    usage: "state                          the raw /admin/state JSON",
    mutates: false,
  },
  ready: {
    run: (ctx, a) => raw(ctx, "/readyz", a, "ready", ["ready"]),
    usage: "ready                          readiness (exit 1 when not ready)",
    mutates: false,
  },
};
