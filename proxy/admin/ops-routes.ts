// The operations endpoints of the admin API (read endpoints open, writes need the token):
//   GET  /admin/cluster/peers                   Raft members, roles, lag (leader)
//   POST /admin/cluster/transfer    {"id"}      hand leadership to voter id
//   POST /admin/cluster/add-learner {"id","address"}
//   POST /admin/cluster/promote     {"id"}      learner -> voter
//   POST /admin/cluster/remove      {"id"}
//   GET  /admin/snapshot                        a copy of the replicated state
//   GET  /admin/changes                         recent ring changes with their cause
//   GET  /admin/live                            per-member in-flight, rate, errors, p50/p99
//   GET  /admin/ring?pool=P[&top=N]             the pool's arcs / table shares, for drawing
//   GET  /admin/fleet                           every instance's Raft view (admin.fleet)
//   GET  /admin/dashboard[?pool&offset&show]    the dashboard's data: pool counts, one page of members
// Membership changes are leader-only: a follower answers 409 not_leader naming the leader.

import type { IncomingMessage, ServerResponse } from "node:http";
import { formatAddress, parseAddress } from "../../config/address.js";
import { NODE_ID, NODE_ID_EXPECTED } from "../cluster/cluster-settings.js";
import { DashboardFeed, feedQuery } from "./dashboard-feed.js";
import type { OpsBackend } from "./ops-types.js";
import type { AdminError, AdminResult, AdminStateView } from "./types.js";

export const OPS_WRITE_PATH = /^\/admin\/cluster\/(transfer|add-learner|promote|remove)$/;

export interface OpsHttp {
  send(res: ServerResponse, status: number, body: unknown): void;
  sendError(res: ServerResponse, e: AdminError): void;
  readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; err: AdminError }>;
  /** POST + token, or answers and returns false. */
  writeAllowed(req: IncomingMessage, res: ServerResponse): boolean;
  methodNotAllowed(res: ServerResponse, allow: string): void;
}

function bad(message: string): AdminError {
  return { status: 400, error: "bad_request", message };
}

function nodeId(body: unknown): string | AdminError {
  const v = typeof body === "object" && body !== null ? (body as Record<string, unknown>).id : undefined;
  if (typeof v !== "string" || !NODE_ID.test(v))
    return bad(`expected "id" in the JSON body, a node id: ${NODE_ID_EXPECTED}`);
  return v;
}

/**
 * A learner's address, read as `cluster.peers` reads one in the config file: the transport only
 * splits at the last colon, so `[::1` or `::1:7401` would be committed fleet-wide as a learner
 * nobody can reach. Stored as the config writes it, so one peer is one address either way.
 */
function peerAddress(body: unknown): string | AdminError {
  const v = typeof body === "object" && body !== null ? (body as Record<string, unknown>).address : undefined;
  if (typeof v !== "string") return bad('expected "address" in the JSON body, a "host:port" string');
  const a = parseAddress(v);
  if (a.ok) return formatAddress(a.value);
  return bad(`expected "address" in the JSON body: ${a.expected}, found ${a.found ?? JSON.stringify(v)}`);
}

const feeds = new WeakMap<OpsBackend, DashboardFeed>();

/** Handles an operations path; false when `path` is not one of them. */
export async function handleOpsRoute(
  ops: OpsBackend,
  state: () => AdminStateView,
  http: OpsHttp,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  const path = url.pathname;
  const read = req.method === "GET" || req.method === "HEAD";
  const answer = <T>(r: AdminResult<T>) => (r.ok ? http.send(res, 200, r.value) : http.sendError(res, r.err));
  const reader = (body: () => unknown) => {
    if (!read) http.methodNotAllowed(res, "GET");
    else http.send(res, 200, body());
    return true;
  };
  switch (path) {
    case "/admin/cluster/peers": {
      if (!read) {
        http.methodNotAllowed(res, "GET");
        return true;
      }
      const peers = ops.peers();
      if (peers === undefined)
        http.sendError(res, {
          status: 503,
          error: "raft_stopped",
          message: "this node's Raft driver is not running",
        });
      else http.send(res, 200, peers);
      return true;
    }
    case "/admin/changes":
      return reader(() => ({ changes: ops.changes() }));
    case "/admin/live":
      return reader(() => ops.live());
    case "/admin/fleet":
      if (!read) http.methodNotAllowed(res, "GET");
      else http.send(res, 200, { instances: await ops.fleet() });
      return true;
    case "/admin/ring": {
      if (!read) http.methodNotAllowed(res, "GET");
      else {
        const pool = url.searchParams.get("pool");
        const top = url.searchParams.get("top");
        if (pool === null || pool === "")
          http.sendError(res, {
            status: 400,
            error: "missing_parameter",
            message: "query parameter 'pool' is required",
          });
        else if (top !== null && (url.searchParams.getAll("top").length > 1 || !/^[1-9]\d{0,5}$/.test(top)))
          http.sendError(res, {
            status: 400,
            error: "bad_parameter",
            message: "top: expected one whole number from 1 to 999999",
          });
        else answer(ops.ring(pool, top === null ? undefined : Number(top)));
      }
      return true;
    }
    case "/admin/dashboard": {
      if (!read) {
        http.methodNotAllowed(res, "GET");
        return true;
      }
      let feed = feeds.get(ops);
      if (feed === undefined) {
        feed = new DashboardFeed(ops, state);
        feeds.set(ops, feed);
      }
      const q = feedQuery(url.searchParams);
      const r = q.ok ? await feed.read(q.value) : q;
      if (!r.ok) {
        http.sendError(res, r.err);
        return true;
      }
      const text = r.value;
      res.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(text),
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : text);
      return true;
    }
    case "/admin/snapshot":
      if (!read) http.methodNotAllowed(res, "GET");
      else answer(ops.snapshot());
      return true;
  }
  const m = OPS_WRITE_PATH.exec(path);
  if (m === null) return false;
  if (!http.writeAllowed(req, res)) return true;
  const body = await http.readJson(req);
  if (!body.ok) {
    http.sendError(res, body.err);
    return true;
  }
  const id = nodeId(body.value);
  if (typeof id !== "string") {
    http.sendError(res, id);
    return true;
  }
  switch (m[1]) {
    case "transfer":
      answer(await ops.transferLeader(id));
      break;
    case "promote":
      answer(await ops.promote(id));
      break;
    case "remove":
      answer(await ops.remove(id));
      break;
    default: {
      const address = peerAddress(body.value);
      if (typeof address !== "string") http.sendError(res, address);
      else answer(await ops.addLearner(id, address));
    }
  }
  return true;
}
