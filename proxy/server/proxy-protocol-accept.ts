// `listen.proxyProtocol`: every connection must open with a PROXY v1/v2 header, and only
// from a trusted load balancer; anyone else, a malformed header or one too slow to arrive
// is refused (closed, counted, logged). The header's client address then becomes the
// socket's peer address, so the `ip` key, X-Forwarded-For and access logs see the client.
//
// The server's own 'connection' listeners (Node's HTTP parser, or TLS) are taken off and
// called once the header is consumed; bytes after it go back with unshift.

import type { Server } from "node:http";
import type { Socket } from "node:net";
import { Server as TlsServer } from "node:tls";
import type { LogSink } from "../../config/log-sink.js";
import type { TrustedList } from "../routing/cidr-match.js";
import { isTrusted, unmapIPv4 } from "../routing/key-extract.js";
import { ACCEPTED_AT } from "./h2c-preface.js";
import { parseProxyHeader, V2_MAX } from "./proxy-protocol.js";

export interface ProxyProtocolOptions {
  trusted: TrustedList;
  /** How long the header may take to arrive (ms): the listener's headers timeout. */
  timeoutMs: number;
  logger: LogSink;
  onRefused?: (code: string) => void;
}

type Listener = (this: Server, socket: Socket) => void;
type PeerOut = { address?: string; port?: number; family?: string };

export function acceptProxyProtocol(server: Server, opts: ProxyProtocolOptions): void {
  const inner = server.listeners("connection") as Listener[];
  server.removeAllListeners("connection");
  // TLS reads the raw socket's handle itself; Node's HTTP parser needs the stream flowing.
  const resumeAfter = !(server instanceof TlsServer);
  server.on("connection", (socket: Socket) => {
    (socket as Socket & { [ACCEPTED_AT]?: number })[ACCEPTED_AT] = performance.now();
    const peer = unmapIPv4(socket.remoteAddress ?? "");
    const refuse = (code: string, detail: string): void => {
      opts.logger.warn({ code, peer, detail }, "PROXY protocol connection refused");
      opts.onRefused?.(code);
      socket.destroy();
    };
    socket.on("error", noop);
    if (!isTrusted(opts.trusted, peer)) {
      refuse("proxy_protocol_untrusted", "peer not in listen.proxyProtocol.trusted");
      return;
    }
    let received: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.off("data", onData);
      refuse("proxy_protocol_timeout", `no complete header within ${opts.timeoutMs} ms`);
    }, opts.timeoutMs);
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const h = parseProxyHeader(received);
      if (h.kind === "incomplete") {
        if (received.length > V2_MAX) refuse("proxy_protocol_malformed", "oversized");
        return;
      }
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("end", onEnd);
      if (h.kind === "bad") {
        refuse("proxy_protocol_malformed", h.reason);
        return;
      }
      socket.pause();
      if (h.address !== undefined) setPeer(socket, h.address, h.port ?? 0, h.family ?? "IPv4");
      socket.off("error", noop);
      if (received.length > h.length) socket.unshift(received.subarray(h.length));
      for (const l of inner) l.call(server, socket);
      if (resumeAfter) socket.resume();
    };
    const onClose = (): void => clearTimeout(timer);
    // The peer sent its FIN before a complete header: nothing more can come, so the socket is
    // closed now rather than held half-open until the timeout and then warned about. With no
    // byte at all it is a balancer's TCP health check (connect, close: NLB, haproxy `check`),
    // closed quietly; a part of a header is a truncated one.
    const onEnd = (): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      if (received.length === 0) socket.destroy();
      else refuse("proxy_protocol_malformed", "truncated: the peer closed before the header ended");
    };
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("end", onEnd);
  });
}

/**
 * Makes the socket report the client from the header as its peer. The handle's getpeername
 * is what both net.Socket and a TLSSocket wrapped around it ask, so one override covers both.
 */
function setPeer(socket: Socket, address: string, port: number, family: string): void {
  const handle = (socket as unknown as { _handle?: { getpeername?: (out: PeerOut) => number } })._handle;
  if (handle === undefined || handle === null) return;
  handle.getpeername = (out: PeerOut): number => {
    out.address = address;
    out.port = port;
    out.family = family;
    return 0;
  };
  // net.Socket caches the peer after its first read.
  (socket as unknown as { _peername?: unknown })._peername = undefined;
}

function noop(): void {}
