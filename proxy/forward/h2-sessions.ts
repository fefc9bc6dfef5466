// HTTP/2 sessions to the members of `protocol: h2c | h2` pools: a small pool of multiplexed
// sessions per upstream address and TLS settings, shared by every member entry there as the
// HTTP/1 agents are (endpoints.ts), created on first use, each replaced after a GOAWAY, an
// error or a close. A stream goes on the first session with a free slot under the member's
// SETTINGS_MAX_CONCURRENT_STREAMS; when every session is full another is opened, up to the
// pool's `http2.maxSessions` (Envoy opens a new connection when all are at their stream limit):
// with one session, a gRPC member advertising 100 streams capped the address at 100 calls and
// the rest waited in nghttp2's queue (h2-stream-slots.ts) although the member took more
// connections. At the cap, a stream waits on the least busy session, as before. A session idle
// for the upstream idle timeout is closed, so the extra ones go once the burst is over.
// A new session assumes the stream limit the member last advertised here (100, nghttp2's
// default, until one did) until its own SETTINGS arrive.
// A session per member entry gave each of 1,000 members on a few addresses its own TCP + TLS
// handshake + SETTINGS exchange, and again after every idle spell.
// Reconnects are bounded: a session that failed before it connected makes the next ones wait
// an exponential backoff (50 ms doubling to 2 s), during which requests to the members there
// fail at once with the same connect error (the data plane retries them on the next member and
// skips this one locally) unless a live session remains, instead of each opening its own
// connection. A dial this instance could not make (no descriptor or local port: EMFILE, ENFILE,
// EADDRNOTAVAIL) says nothing of the member and starts no backoff: the next call dials again,
// so calls are served as soon as descriptors free instead of up to 2 s later. A session is closed after a grace once the last member using it left every pool.
// Stale errors stay per request: each attempt owns its stream and is told apart by the context
// (h2-attempt.ts).

import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type SecureClientSessionOptions,
} from "node:http2";
import { localExhaustionCode } from "../../health/local-exhaustion.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import type { SnapshotMember } from "../routing/types.js";
import { DeadSessionSweep } from "../server/h2-dead-session.js";
import { upstreamKey } from "./endpoints.js";
import { openStreams } from "./h2-stream-slots.js";
import { upstreamTlsOptions } from "./upstream-tls.js";

export type UpstreamProtocol = "h2c" | "h2";

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 2000;
/** What one upstream session may buffer (MB, nghttp2's accounting). */
const MAX_SESSION_MEMORY_MB = 16;
/** Sessions per upstream address when the pool does not say (`pools.P.http2.maxSessions`). */
export const DEFAULT_MAX_SESSIONS = 8;
/** nghttp2's assumption (Node's peerMaxConcurrentStreams) until a member's SETTINGS arrive. */
const ASSUMED_LIMIT = 100;

const kSettled = Symbol("shardgate.h2settled");
type Settled = ClientHttp2Session & { [kSettled]?: boolean };

/** An HTTP/2 upstream error with the errno-style code the data plane classifies (connect vs reset). */
/**
 * Why shardgate destroys a session (its data plane closed, or a retired session's grace ran
 * out). Destroyed without an error, a session ends its open streams as if their answers were
 * whole (no reset code either), and a response being relayed was ended to its client,
 * truncated, as complete (h2-attempt.ts onEnd); with one, each stream fails and is cut. The
 * GOAWAY still says NO_ERROR: a member reads any other code as its session's error.
 */
const SESSION_CUT = new Error("shardgate destroyed its upstream HTTP/2 session");

export class H2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    /**
     * The member never processed the request (RFC 9113 section 8.7: refused, or above a
     * GOAWAY's last-stream-id; or it never left shardgate's queue): safe to send to the next
     * member whatever its method, if its body can be sent again.
     */
    readonly unprocessed = false,
  ) {
    super(message);
  }
}

/**
 * A session nghttp2 ended with its own GOAWAY for a member's malformed frame: its streams fail as
 * reset (the member may have processed them), so an idempotent request is retried at once
 * instead of after the response timeout.
 */
const MEMBER_PROTOCOL_ERROR = new H2Error(
  "ECONNRESET",
  "upstream HTTP/2 session ended: the member sent a malformed frame (GOAWAY sent)",
);

const kGoawayLast = Symbol("shardgate.h2goawayLast");
type AfterGoaway = ClientHttp2Session & { [kGoawayLast]?: number };

/**
 * Whether the member's GOAWAY on `session` said it never processed `stream`: the stream's id is
 * above the GOAWAY's last-stream-id (RFC 9113 section 6.8), whatever the GOAWAY's code. With
 * NO_ERROR nghttp2 ends such a stream REFUSED_STREAM; with any other code Node destroys the
 * session first and the stream fails as a plain reset, which said nothing of the kind: a member
 * shedding load with GOAWAY ENHANCE_YOUR_CALM had each such request answered 502 upstream_reset,
 * though it was safe to send again.
 */
export function aboveMemberGoaway(session: ClientHttp2Session, stream: ClientHttp2Stream): boolean {
  const last = (session as AfterGoaway)[kGoawayLast];
  const id = stream.id;
  return last !== undefined && id !== undefined && id > last;
}

/** A later GOAWAY's last-stream-id is never higher (RFC 9113 section 6.8): the latest holds. */
function rememberGoaway(this: ClientHttp2Session, _code: number, lastStreamID: number): void {
  (this as AfterGoaway)[kGoawayLast] = lastStreamID;
}

/** Whether `err` says the member never processed the request (see H2Error.unprocessed). */
export function isUnprocessedFailure(err: Error | undefined): boolean {
  return err instanceof H2Error && err.unprocessed;
}

interface Entry {
  /** Its key in the shared map. */
  readonly upstream: string;
  /** Live sessions (connecting or connected, no GOAWAY), oldest first. */
  readonly sessions: ClientHttp2Session[];
  /**
   * The stream limit the member last advertised on any session here: what a session still
   * waiting for its SETTINGS is assumed to allow, so a burst does not pile on a new one.
   */
  limit: number;
  /** The error of the last session that failed before connecting; null once one connected. */
  failure: Error | null;
  failures: number;
  retryAt: number;
  /** Member entries using this session; retired with the last one. */
  users: number;
}

export class H2Sessions {
  /** Member entry (agentKey#protocol) -> the shared entry of its address. */
  private readonly members = new Map<string, Entry>();
  /** Upstream address + TLS settings (upstreamKey#protocol) -> its session state. */
  private readonly shared = new Map<string, Entry>();
  private readonly retiring = new Set<ReturnType<typeof setTimeout>>();
  /**
   * Every session from its dial to its close, those that left their entry's list too (after the
   * member's GOAWAY, or retired with their streams still running): the sweep asks them all.
   */
  private readonly everySession = new Set<ClientHttp2Session>();
  /** Sessions nghttp2 ended for a member's malformed frame (h2-dead-session.ts): failed at once. */
  private readonly dead = new DeadSessionSweep<ClientHttp2Session>(
    () => this.everySession,
    (s) => s.destroy(MEMBER_PROTOCOL_ERROR),
  );

  constructor(
    private readonly settings: { idleMs: number },
    private readonly now: () => number,
  ) {}

  /**
   * A session to the member (connecting or connected) with a free stream slot, a new one when
   * all are full and fewer than `maxSessions` live, else the least busy; or the connect error
   * to fail with while the address is in reconnect backoff with no live session.
   */
  get(
    member: SnapshotMember,
    protocol: UpstreamProtocol,
    connectMs: number,
    maxSessions = DEFAULT_MAX_SESSIONS,
  ): ClientHttp2Session | Error {
    const suffix = protocol === "h2" ? "#h2" : "#h2c";
    const key = member.agentKey + suffix;
    let e = this.members.get(key);
    if (e === undefined) {
      const upstream = upstreamKey(member) + suffix;
      e = this.shared.get(upstream);
      if (e === undefined) {
        e = {
          upstream,
          sessions: [],
          limit: ASSUMED_LIMIT,
          failure: null,
          failures: 0,
          retryAt: 0,
          users: 0,
        };
        this.shared.set(upstream, e);
      }
      e.users++;
      this.members.set(key, e);
    }
    const list = e.sessions;
    let least: ClientHttp2Session | null = null;
    let leastOpen = Number.POSITIVE_INFINITY;
    let live = 0;
    // Pools sharing the address may allow different counts: each uses its first maxSessions.
    for (let i = 0; i < list.length && live < maxSessions; i++) {
      const s = list[i];
      if (s.closed || s.destroyed) continue;
      live++;
      const open = openStreams(s);
      const limit =
        (s as Settled)[kSettled] === true ? (s.remoteSettings.maxConcurrentStreams ?? e.limit) : e.limit;
      if (open < limit) return s;
      if (open < leastOpen) {
        least = s;
        leastOpen = open;
      }
    }
    if (e.failure !== null && this.now() < e.retryAt) return least ?? e.failure;
    if (least !== null && live >= maxSessions) return least;
    const s = this.open(e, member, protocol, connectMs);
    list.push(s);
    return s;
  }

  /** Live sessions to `member`'s address (for tests and the bench). */
  liveSessions(member: SnapshotMember, protocol: UpstreamProtocol): number {
    const e = this.members.get(member.agentKey + (protocol === "h2" ? "#h2" : "#h2c"));
    return e === undefined ? 0 : e.sessions.length;
  }

  private open(
    e: Entry,
    member: SnapshotMember,
    protocol: UpstreamProtocol,
    connectMs: number,
  ): ClientHttp2Session {
    const host = member.address.host;
    const authority = `${protocol === "h2" ? "https" : "http"}://${member.hostPort}`;
    const options: SecureClientSessionOptions = {
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      settings: { enablePush: false },
      lookup: upstreamLookup.lookup,
      // Until this session's SETTINGS arrive, nghttp2 sends up to this many streams at once (its
      // default 100) and the member refuses those above its own limit. The limit the member
      // advertised on another session here is the better guess: streams above it wait in
      // nghttp2's queue instead of being sent and refused (a member allowing 1 stream refused
      // most of a burst spread over new sessions, and a stream refused twice was lost).
      peerMaxConcurrentStreams: Math.max(1, e.limit),
    };
    if (protocol === "h2" && member.tls !== undefined)
      Object.assign(options, upstreamTlsOptions(member.tls, host));
    const session = connect(authority, options);
    this.everySession.add(session);
    let connected = false;
    // The timer runs in the loop's timers phase, before the poll phase that would deliver a
    // connect already completed: after a long turn (a burst of 1,000 streams arriving in one
    // read, each dispatched before the loop moves on) it fired on a session that had connected
    // in time, and every stream on it failed upstream_connect_failed against a healthy member.
    // So the verdict waits for the I/O of this loop turn (undici's connect timeout does the same).
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!connected) session.destroy(new H2Error("ECONNECT_TIMEOUT", "upstream connect timeout"));
      });
    }, connectMs);
    timer.unref();
    session.once("connect", () => {
      connected = true;
      clearTimeout(timer);
      // Node gives a client session its native handle once the socket connected.
      this.dead.watch(session);
      e.failure = null;
      e.failures = 0;
      if (this.settings.idleMs > 0) session.setTimeout(this.settings.idleMs, closeSession);
    });
    session.on("remoteSettings", (settings) => {
      (session as Settled)[kSettled] = true;
      e.limit = settings.maxConcurrentStreams ?? ASSUMED_LIMIT;
    });
    const forget = (): void => {
      const i = e.sessions.indexOf(session);
      if (i >= 0) e.sessions.splice(i, 1);
    };
    // After a GOAWAY the session finishes its streams but takes no new ones: replace it now.
    session.on("goaway", rememberGoaway);
    session.on("goaway", forget);
    session.on("error", (err: Error) => {
      if (connected || localExhaustionCode(err) !== null) return;
      e.failures++;
      e.failure = asConnectError(err);
      e.retryAt = this.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (e.failures - 1));
    });
    session.once("close", () => {
      clearTimeout(timer);
      forget();
      this.everySession.delete(session);
    });
    return session;
  }

  /**
   * Forgets member entries whose agent key is not in `live`. A session no remaining member
   * uses is closed with them (running streams get `graceMs`); one another member on the same
   * address still uses stays open.
   */
  retain(live: ReadonlySet<string>, graceMs: number): void {
    for (const [key, e] of this.members) {
      if (live.has(key.slice(0, key.lastIndexOf("#")))) continue;
      this.members.delete(key);
      if (--e.users > 0) continue;
      if (this.shared.get(e.upstream) === e) this.shared.delete(e.upstream);
      for (const s of e.sessions.splice(0)) {
        // close() lets running streams finish; destroy() after the grace cuts what is left.
        s.close();
        const t = setTimeout(() => {
          this.retiring.delete(t);
          s.destroy(SESSION_CUT, constants.NGHTTP2_NO_ERROR);
        }, graceMs);
        t.unref();
        this.retiring.add(t);
        // Closed before the grace: the timer (and its hold on the session) goes at once.
        s.once("close", () => {
          clearTimeout(t);
          this.retiring.delete(t);
        });
      }
    }
  }

  /** Live upstream sessions (counted as idle sockets: a session is one connection, shared). */
  socketCount(): { busy: number; idle: number } {
    let idle = 0;
    for (const e of this.shared.values()) for (const s of e.sessions) if (!s.destroyed) idle++;
    return { busy: 0, idle };
  }

  /** Session entries in use (one per upstream address, TLS settings and protocol), for tests. */
  sessionCount(): number {
    return this.shared.size;
  }

  closeAll(): void {
    this.dead.close();
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    for (const e of this.shared.values())
      for (const s of e.sessions.splice(0)) s.destroy(SESSION_CUT, constants.NGHTTP2_NO_ERROR);
    this.shared.clear();
    this.members.clear();
  }
}

function closeSession(this: ClientHttp2Session): void {
  this.close();
}

/**
 * A session that failed before connecting, as the connect error the data plane classifies:
 * socket errors keep their code (ECONNREFUSED, ...); an HTTP/2-level failure (a member that
 * does not speak HTTP/2 answers the preface with garbage) is a refusal too: nothing was sent.
 */
function asConnectError(err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && code !== "ERR_HTTP2_ERROR" && !code.startsWith("ERR_HTTP2")) return err;
  return new H2Error("ECONNREFUSED", `upstream HTTP/2 session failed: ${err.message}`);
}
