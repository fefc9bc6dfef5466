// A client's fair share of a member's upstream connections (listen.maxUpstreamPerClient).
// undici holds one upstream connection per request in flight (pipelining 1) from dispatch
// until the member's answer is read whole; an answer larger than what Node buffers for the
// client is read only as fast as the client takes it. So a client that never reads held one
// of the address's 256 connections per request until the send timeout: 3 HTTP/2 connections
// of 100 zero-window streams, or 256 slow HTTP/1.1 readers, took them all and every other
// client waited for a socket until its response timeout (504 after 30 s). Counted per client
// address (the connection's peer, after a PROXY header), not per connection, because opening
// more connections is free; an IPv6 client by its /64, since one host is routinely given a whole
// /64 and picks addresses from it at will (HAProxy's ipmask(32,64) stick-table key; rate limiters
// do the same); per member address, because that is where the cap is. Past the share,
// while half or more of the address's connections are in use (a lone client below that is
// not held to it), a request is answered 503 client_share_exceeded at once, not queued behind
// the client's own stalled answers. An open WebSocket holds a slot from its upgrade until its
// tunnel ends (data-plane.ts): idle tunnels cost the member as much as stalled answers do.
// Two Map lookups per request; a client's entry goes when its count reaches 0, so departed
// clients hold no memory.

/** Address entries kept before idle ones are swept (a few hundred KB at most). */
const IDLE_SWEEP_MIN = 4096;

/** One member address's count: every client's requests in flight, and each client's. */
interface AddressCount {
  total: number;
  readonly byPeer: Map<string, number>;
}

export class ClientShare {
  /**
   * member host:port -> its count. An entry stays when its total reaches 0 (deleting it made a
   * client alone on an address allocate an entry and a Map per request); idle entries are swept
   * when the map outgrows `sweepAt`, so addresses that left hold nothing for long.
   */
  private readonly held = new Map<string, AddressCount>();
  private sweepAt = IDLE_SWEEP_MIN;

  /**
   * `limit`: the requests one client may have in flight on an address while the address is
   * busy. `unshared`: how many of the address's connections any client may take while fewer
   * than that are in use (a lone client, e.g. an application behind its sidecar on loopback,
   * is not held to its share while half the pool is idle); then an attacker holds at most
   * max(limit, unshared) and the rest stay for others.
   */
  constructor(
    readonly limit: number,
    readonly unshared = 0,
  ) {}

  /** Takes one slot for `peer` at `address`; false when the address is busy and the client holds its share. */
  take(address: string, peer: string): boolean {
    let at = this.held.get(address);
    if (at === undefined) {
      if (this.held.size >= this.sweepAt) this.sweepIdle();
      at = { total: 0, byPeer: new Map() };
      this.held.set(address, at);
    }
    const n = at.byPeer.get(peer) ?? 0;
    if (n >= this.limit && at.total >= this.unshared) return false;
    at.byPeer.set(peer, n + 1);
    at.total++;
    return true;
  }

  /** Gives back a slot `take` granted. */
  give(address: string, peer: string): void {
    const at = this.held.get(address);
    const n = at?.byPeer.get(peer);
    if (at === undefined || n === undefined) return;
    if (n <= 1) at.byPeer.delete(peer);
    else at.byPeer.set(peer, n - 1);
    at.total--;
  }

  /** Address entries kept now, idle ones included (tests, diagnostics). */
  get addresses(): number {
    return this.held.size;
  }

  /** Drops the entries of addresses nothing is in flight on; the next sweep waits for twice what stays. */
  private sweepIdle(): void {
    for (const [address, at] of this.held) if (at.total <= 0) this.held.delete(address);
    this.sweepAt = Math.max(IDLE_SWEEP_MIN, 2 * this.held.size);
  }

  /** Slots held now by `peer` at `address` (tests, diagnostics). */
  heldBy(address: string, peer: string): number {
    return this.held.get(address)?.byPeer.get(peer) ?? 0;
  }
}

/**
 * The key a client address is counted under: an IPv4 address as it is, an IPv6 address by its
 * first 64 bits (4 groups, written in full: "2001:db8:0:0"). Computed once per connection
 * (ConnectionFacts). An unparsable text is its own key.
 */
export function shareKeyOf(peer: string): string {
  if (peer.indexOf(":") < 0) return peer;
  const zone = peer.indexOf("%");
  const text = zone < 0 ? peer : peer.slice(0, zone);
  const gap = text.indexOf("::");
  let all: string[];
  if (gap < 0) all = text.split(":");
  else {
    if (text.indexOf("::", gap + 1) >= 0) return peer;
    const head = gap === 0 ? [] : text.slice(0, gap).split(":");
    const rest = text.slice(gap + 2);
    const tail = rest === "" ? [] : rest.split(":");
    // A dotted IPv4 tail ("::ffff:1.2.3.4" forms) is two groups.
    const width = tail.length + (tail.length > 0 && tail[tail.length - 1].includes(".") ? 1 : 0);
    const zeros = 8 - head.length - width;
    if (zeros < 1) return peer;
    all = head.concat(new Array<string>(zeros).fill("0"), tail);
  }
  if (all.length < 4) return peer;
  const groups: string[] = [];
  for (let i = 0; i < 4; i++) {
    const g = all[i];
    if (g.length === 0 || g.length > 4 || !/^[0-9a-fA-F]+$/.test(g)) return peer;
    groups.push(Number.parseInt(g, 16).toString(16));
  }
  return groups.join(":");
}

/** The default share: a quarter of the per-address connection cap, at least 8 (and never above the cap). */
export function defaultClientShare(maxSockets: number): number {
  return Math.min(maxSockets, Math.max(8, Math.floor(maxSockets / 4)));
}

/** Connections of an address any client may take while fewer are in use: half the cap. */
export function unsharedConnections(maxSockets: number): number {
  return Math.floor(maxSockets / 2);
}
