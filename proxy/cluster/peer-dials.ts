// How this instance dials its Raft peers: through the process's bounded lookup (a peer named by
// a hostname, as Kubernetes voters are, must not hold one of libuv's threads while DNS hangs,
// nor the process's exit), and what it logs when a dial fails. A failed lookup is a warning
// that names the name and the lookup's own error; a refused connect (a peer not up yet, which
// every fleet start sees) is info; a dial that failed on this instance's own descriptor or
// port limit (EMFILE, ENFILE, EADDRNOTAVAIL) is a warning that says so, not the peer. One line
// per streak and per error code in it, one when the peer is reached. Each dial that met this
// instance's own limit is also counted (local_resource_exhausted_total{op="raft_dial"}).

import type { LookupFunction } from "node:net";
import { errorText } from "../../config/coded-error.js";
import type { LogSink } from "../../config/log-sink.js";
import type { TcpTransportOptions } from "../../config/raft/transport/index.js";
import { localExhaustionCode } from "../../health/local-exhaustion.js";
import { upstreamLookup } from "../net/bounded-lookup.js";

type DialOptions = Pick<TcpTransportOptions, "lookup" | "onDialFailure" | "onDialError" | "onDialRecovered">;

/** The lookup's own errors name the syscall getaddrinfo (bounded-lookup.ts, Node's dns.lookup). */
function isLookupFailure(err: NodeJS.ErrnoException): boolean {
  return err.syscall === "getaddrinfo" || err.code === "EDNS_TIMEOUT";
}

export function peerDialOptions(
  log: LogSink,
  /** A dial met this instance's own descriptor or port limit (counted and shown by DescriptorLimits). */
  onLocalShortage: (op: string, code: string) => void = () => {},
  lookup: LookupFunction = upstreamLookup.lookup as LookupFunction,
): DialOptions {
  return {
    lookup,
    onDialError: (_peer, err) => {
      const code = localExhaustionCode(err);
      if (code !== null) onLocalShortage("raft_dial", code);
    },
    onDialFailure: (peer, address, err, failures) => {
      const fields = { component: "raft", peer, address, code: err.code, failures, err: errorText(err) };
      if (isLookupFailure(err))
        log.warn(fields, `raft peer ${peer}: its address ${address} does not resolve; retrying`);
      else if (localExhaustionCode(err) !== null)
        log.warn(
          fields,
          `raft peer ${peer}: this instance has no file descriptor or local port left to dial ${address} (its own limit, not the peer's); retrying`,
        );
      else log.info(fields, `raft peer ${peer}: cannot connect to ${address}; retrying`);
    },
    onDialRecovered: (peer, address, failures) =>
      log.info(
        { component: "raft", peer, address, failures },
        `raft peer ${peer}: connected to ${address} after ${failures} failed dials`,
      ),
  };
}
