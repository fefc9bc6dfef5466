// The fleet as the dashboard shows it: this instance plus every admin URL listed in
// `admin.fleet`, each one's Raft view (role, term, leader, commit/applied index), ring
// version and degraded reason, with each peer's replication lag taken from whichever
// instance leads. The URLs come from the config only (never from a request), each fetch is
// bounded (FETCH_TIMEOUT_MS, and at most FLEET_ANSWER_MAX_BYTES read per answer, so a broken
// or hostile neighbour cannot make this instance buffer without end), and one read is shared
// by every caller for FLEET_TTL_MS.
// A neighbour named by a hostname resolves through the bounded lookup
// (proxy/net/bounded-lookup.ts), not the global fetch's getaddrinfo: with a DNS server that
// hangs, each read queued one more getaddrinfo that held a libuv thread for the resolver's
// whole timeout, and the peer's error said only that the fetch was aborted. Now the peer whose
// lookup is still pending when its bound expires is marked unreachable with an error naming
// the lookup, and the other peers are answered as usual (test/ops/fleet-view-dns.test.ts).
// A neighbour is asked at each address its name resolves to (net/admin-by-address.ts), so its
// admin port, which answers only a Host naming it, answers whatever name the operator listed.

import { Agent } from "undici";
import { errorText } from "../../config/coded-error.js";
import type { FleetInstanceView, PeersView, PeerView } from "../admin/ops-types.js";
import type { AdminStateView } from "../admin/types.js";
import { adminUrlsByAddress, firstAnswer } from "../net/admin-by-address.js";
import { adminRequest, headerValue } from "../net/admin-request.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { PendingLookups } from "../net/pending-lookups.js";

const FLEET_TTL_MS = 500;
const FETCH_TIMEOUT_MS = 1_000;
/** The most bytes read of one neighbour's admin answer (README "Security limits"). */
export const FLEET_ANSWER_MAX_BYTES = 4 * 1024 * 1024;

/** The names the fleet view is resolving, to say so when a peer's bound expires first. */
const lookups = new PendingLookups(upstreamLookup.lookup);
/** Keep-alive connections to the neighbours, resolved through the bounded lookup. */
const dispatcher = new Agent({
  connect: { lookup: lookups.lookup as never, timeout: FETCH_TIMEOUT_MS },
  connections: 4,
});

async function getJson(url: string): Promise<unknown> {
  try {
    return await readJson(url);
  } catch (err) {
    // The bound expired while the neighbour's name was still being resolved: say so.
    const pending = lookups.pendingError(
      new URL(url).hostname,
      `the neighbour's ${FETCH_TIMEOUT_MS} ms bound`,
    );
    throw pending ?? err;
  }
}

async function readJson(url: string): Promise<unknown> {
  const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const urls = await adminUrlsByAddress(
    url,
    lookups.lookup,
    signal,
    (name, err) => err ?? new Error(`no address for ${name}`),
  );
  const r = await firstAnswer(urls, (u) => adminRequest(u, { signal, dispatcher }));
  if (r.statusCode < 200 || r.statusCode > 299) {
    await r.body.dump();
    throw new Error(`HTTP ${r.statusCode}`);
  }
  const tooLarge = `answer larger than ${FLEET_ANSWER_MAX_BYTES} bytes`;
  const declared = Number(headerValue(r.headers, "content-length") ?? "0");
  if (declared > FLEET_ANSWER_MAX_BYTES) {
    await r.body.dump();
    throw new Error(tooLarge);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of r.body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    // Leaving the loop early destroys the stream, which closes the connection.
    if (total > FLEET_ANSWER_MAX_BYTES) throw new Error(tooLarge);
    chunks.push(chunk);
  }
  const answer: unknown = JSON.parse(Buffer.concat(chunks, total).toString("utf8"));
  if (typeof answer !== "object" || answer === null || Array.isArray(answer))
    throw new Error("answer is not a JSON object");
  return answer;
}

/**
 * Each peer's lag as the leader `peers` says, id -> lag. The leader may be a neighbour of another
 * version or no shardgate at all: a `peers` that is no list, or an entry that is no object, threw
 * out of the whole read and stopped the dashboard; such entries give no lag.
 */
function peerLags(peers: PeersView | undefined): Map<string, number | undefined> {
  const lags = new Map<string, number | undefined>();
  if (!Array.isArray(peers?.peers)) return lags;
  for (const p of peers.peers as unknown[]) {
    if (typeof p !== "object" || p === null) continue;
    const { id, self, lag } = p as Partial<PeerView>;
    if (typeof id === "string") lags.set(id, self === true ? 0 : lag);
  }
  return lags;
}

/** DNS failures of the bounded lookup: their message names the lookup and the name. */
const DNS_CODES = new Set(["EDNS_TIMEOUT", "EDNS_PENDING", "ENOTFOUND", "ENODATA", "ESERVFAIL", "EREFUSED"]);

function reason(err: unknown): string {
  const own = (err as { code?: unknown }).code;
  if (typeof own === "string" && DNS_CODES.has(own)) return errorText(err);
  const c = (err as { cause?: { code?: string; message?: string } }).cause;
  if (c?.code !== undefined && DNS_CODES.has(c.code) && c.message !== undefined) return c.message;
  // A connection's failure carries its code (ECONNREFUSED) on the error itself.
  return c?.code ?? (typeof own === "string" ? own : errorText(err));
}

export class FleetView {
  private cached: { at: number; value: Promise<FleetInstanceView[]> } | undefined;
  /** Listed admin URL -> the instance id it last answered with, to name an instance that went down. */
  private readonly lastId = new Map<string, string>();

  constructor(
    private readonly urls: () => readonly string[],
    private readonly self: () => { state: AdminStateView; peers: PeersView | undefined },
  ) {}

  read(): Promise<FleetInstanceView[]> {
    const now = performance.now();
    if (this.cached !== undefined && now - this.cached.at < FLEET_TTL_MS) return this.cached.value;
    const value = this.build();
    this.cached = { at: now, value };
    return value;
  }

  private async build(): Promise<FleetInstanceView[]> {
    const own = this.self();
    const selfId = own.state.raft?.id ?? "";
    const urls = this.urls();
    // An admin URL a reload removed takes its remembered id with it.
    for (const admin of this.lastId.keys()) if (!urls.includes(admin)) this.lastId.delete(admin);
    const remote = await Promise.all(
      urls.map(async (admin): Promise<FleetInstanceView & { peers?: PeersView }> => {
        try {
          const [state, peers] = await Promise.all([
            getJson(`${admin}/admin/state`) as Promise<AdminStateView>,
            getJson(`${admin}/admin/cluster/peers`).catch(() => undefined) as Promise<PeersView | undefined>,
          ]);
          if (state.raft?.id !== undefined) this.lastId.set(admin, state.raft.id);
          return { admin, reachable: true, ...summary(state), peers };
        } catch (err) {
          const id = this.lastId.get(admin);
          return { admin, reachable: false, error: reason(err), ...(id === undefined ? {} : { id }) };
        }
      }),
    );
    const all: Array<FleetInstanceView & { peers?: PeersView }> = [
      { admin: "self", reachable: true, self: true, ...summary(own.state), peers: own.peers },
      ...remote.filter((r) => !r.reachable || r.id !== selfId),
    ];
    const leaderPeers = all.find((v) => v.peers?.role === "leader")?.peers;
    const lag = peerLags(leaderPeers);
    return all.map(({ peers: _peers, ...v }) => {
      const l = v.id === undefined ? undefined : lag.get(v.id);
      return l === undefined ? v : { ...v, lag: l };
    });
  }
}

function summary(s: AdminStateView): Omit<FleetInstanceView, "admin" | "reachable"> {
  const r = s.raft;
  return {
    id: r?.id,
    role: r?.role,
    term: r?.term,
    leader: r?.leader,
    commitIndex: r?.commitIndex,
    appliedIndex: r?.appliedIndex,
    voters: r?.voters,
    learners: r?.learners,
    ringVersion: s.ringVersion,
    degraded: s.degraded,
  };
}
