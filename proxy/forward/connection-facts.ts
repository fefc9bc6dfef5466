// What the forwarded headers take from the client connection, worked out once per connection
// rather than once per request: the peer address (IPv4-mapped form unwrapped), whether the
// connection is TLS, whether the peer is a trusted proxy (for the route's trusted list it was
// checked against), and this hop's RFC 7239 Forwarded element (for the Host and scheme it was
// built for). A keep-alive client sends many requests on one connection; with many clients, a
// single "last element" cache would miss on nearly every request and rebuild the element (an
// isIP, a token regex and three template strings). One small object per connection, kept on
// the socket under a symbol (an HTTP/2 request's socket proxy stores it on the session's socket).

import { TLSSocket } from "node:tls";
import type { TrustedList } from "../routing/cidr-match.js";
import { forwardedElement } from "../routing/forwarded.js";
import { isTrusted, unmapIPv4 } from "../routing/key-extract.js";
import { shareKeyOf } from "./client-share.js";

const kFacts = Symbol("shardgate.connectionFacts");

export class ConnectionFacts {
  /** The trusted list `fromTrusted` was computed for (routes may differ in theirs). */
  private trustedFor: TrustedList | null | undefined = undefined;
  private trusted = false;
  private elementHost: string | undefined = undefined;
  private elementProto = "";
  private element = "";
  /** The client's key in listen.maxUpstreamPerClient (client-share.ts): the peer, an IPv6 one by its /64. */
  readonly shareKey: string;

  constructor(
    readonly peer: string,
    readonly encrypted: boolean,
  ) {
    this.shareKey = shareKeyOf(peer);
  }

  fromTrusted(list: TrustedList | null): boolean {
    if (list !== this.trustedFor) {
      this.trustedFor = list;
      this.trusted = list !== null && isTrusted(list, this.peer);
    }
    return this.trusted;
  }

  /** This hop's Forwarded element for a request with this Host, told scheme `proto`. */
  forwardedElement(host: string | undefined, proto: string): string {
    if (this.element === "" || host !== this.elementHost || proto !== this.elementProto) {
      this.element = forwardedElement(this.peer, host, proto);
      this.elementHost = host;
      this.elementProto = proto;
    }
    return this.element;
  }
}

/** The connection's facts, made on its first request. */
export function connectionFacts(socket: object): ConnectionFacts {
  const s = socket as { [kFacts]?: ConnectionFacts; remoteAddress?: string };
  let f = s[kFacts];
  if (f === undefined) {
    f = new ConnectionFacts(unmapIPv4(s.remoteAddress ?? ""), socket instanceof TLSSocket);
    s[kFacts] = f;
  }
  return f;
}
