// The lifetime of an upgraded connection (WebSocket tunnel) once the upstream answered 101, and
// of one whose upgrade the upstream refused while its answer is relayed.
// http-proxy-3 pipes the two sockets into each other and turns their timeouts off; on its
// own, a client that goes away only half-closes the upstream side, and an upstream that never
// answers that FIN keeps both sockets (and the request's in-flight count) forever. nginx's
// rules apply instead: when either side ends or fails, both are closed; a tunnel quiet in
// both directions for the pool's `timeouts.tunnelIdle` (nginx's proxy_read_timeout, 60 s) is
// closed. The client socket's inactivity timer sees traffic both ways (it reads the client's
// bytes and writes the upstream's), so one timer per tunnel covers it.
//
// Listeners are shared functions; the peer socket is found through a symbol property.

import type { Duplex } from "node:stream";

const kPeer = Symbol("shardgate.tunnelPeer");
type WithPeer = Duplex & { [kPeer]?: Duplex };

/** Ties `client` and `upstream` together from the 101 on; `idleMs` 0 = no idle timeout. */
export function bindTunnel(client: Duplex, upstream: Duplex, idleMs: number): void {
  (client as WithPeer)[kPeer] = upstream;
  (upstream as WithPeer)[kPeer] = client;
  client.on("end", onSideEnd);
  upstream.on("end", onSideEnd);
  client.on("close", onSideClose);
  upstream.on("close", onSideClose);
  upstream.on("error", noop);
  if (idleMs > 0 && typeof (client as { setTimeout?: unknown }).setTimeout === "function") {
    (client as Duplex & { setTimeout(ms: number): void }).setTimeout(idleMs);
    client.on("timeout", onIdle);
  }
}

/**
 * An upgrade the member refused: http-proxy-3 relays its answer on the handed-over socket, which
 * neither the listener's idle timeout nor a tunnel's reaches, so an answer whose body stalls
 * held the client (and its member connection) for good. Quiet both ways for `idleMs`, the
 * client side is closed (its close drops the member's side). 0 = no idle timeout.
 */
export function closeWhenQuiet(client: Duplex, idleMs: number): void {
  if (idleMs > 0 && typeof (client as { setTimeout?: unknown }).setTimeout === "function") {
    (client as Duplex & { setTimeout(ms: number): void }).setTimeout(idleMs);
    client.on("timeout", destroyThis);
  }
}

/** One side sent its FIN: flush what is queued to both, then close both (no half-open tunnel). */
function onSideEnd(this: WithPeer): void {
  const peer = this[kPeer];
  closeSoon(this);
  if (peer !== undefined) closeSoon(peer);
}

function onSideClose(this: WithPeer): void {
  const peer = this[kPeer];
  if (peer !== undefined && !peer.destroyed) peer.destroy();
}

function onIdle(this: WithPeer): void {
  this.destroy();
  const peer = this[kPeer];
  if (peer !== undefined && !peer.destroyed) peer.destroy();
}

/** end() then destroy once flushed, whatever the peer does with its half. */
function closeSoon(s: Duplex): void {
  if (s.destroyed) return;
  const soon = (s as Duplex & { destroySoon?: () => void }).destroySoon;
  if (typeof soon === "function") soon.call(s);
  else s.end(destroyAfterFinish);
}

function destroyAfterFinish(this: Duplex): void {
  this.destroy();
}

function destroyThis(this: Duplex): void {
  this.destroy();
}

function noop(): void {}
