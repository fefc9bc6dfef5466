// A client's fair share of a member's upstream connections (listen.maxUpstreamPerClient).
// undici holds one upstream connection per request in flight (pipelining 1) from dispatch
// until the member's answer is read whole; an answer larger than what Node buffers for the
// client is read only as fast as the client takes it. So a client that never reads held one
// of the address's 256 connections per request until the send timeout: 3 HTTP/2 connections
// of 100 zero-window streams, or 256 slow HTTP/1.1 readers, took them all and every other
// client waited for a socket until its response timeout (504 after 30 s). Counted per client
// address (the connection's peer, after a PROXY header), not per connection, because opening
// more connections is free; per member address, because that is where the cap is. Past the
// share a request is answered 503 client_share_exceeded at once, not queued behind the
// client's own stalled answers. Two Map lookups per request; the inner entry goes when its
// count reaches 0, so departed clients hold no memory.

export class ClientShare {
  /** member host:port -> client address -> upstream requests in flight. */
  private readonly held = new Map<string, Map<string, number>>();

  constructor(readonly limit: number) {}

  /** Takes one slot for `peer` at `address`; false when the client holds its share already. */
  take(address: string, peer: string): boolean {
    let byPeer = this.held.get(address);
    if (byPeer === undefined) {
      byPeer = new Map();
      this.held.set(address, byPeer);
    }
    const n = byPeer.get(peer) ?? 0;
    if (n >= this.limit) return false;
    byPeer.set(peer, n + 1);
    return true;
  }

  /** Gives back a slot `take` granted. */
  give(address: string, peer: string): void {
    const byPeer = this.held.get(address);
    const n = byPeer?.get(peer);
    if (byPeer === undefined || n === undefined) return;
    if (n <= 1) {
      byPeer.delete(peer);
      if (byPeer.size === 0) this.held.delete(address);
    } else byPeer.set(peer, n - 1);
  }

  /** Slots held now by `peer` at `address` (tests, diagnostics). */
  heldBy(address: string, peer: string): number {
    return this.held.get(address)?.get(peer) ?? 0;
  }
}

/** The default share: a quarter of the per-address connection cap, at least 8 (and never above the cap). */
export function defaultClientShare(maxSockets: number): number {
  return Math.min(maxSockets, Math.max(8, Math.floor(maxSockets / 4)));
}
