// The TLS options of a pool's upstream agents, read from `pools.P.tls` files. Files are read
// once per pool config object (a reload that changes them builds new agents: the member's
// agentKey carries the tls settings). Verification is on unless `verify: false`, which
// app.ts announces at warn on every load. The files are read on the event loop (at load, on a
// reload, on a pool's first request): each is bounded (bounded-read.ts), so a FIFO or a device
// in their place is refused instead of blocking the proxy or reading 2 GiB.

import type { AgentOptions } from "node:https";
import { isIP } from "node:net";
import { MAX_PEM_BYTES, readFileBoundedSync } from "../../config/file/bounded-read.js";
import type { UpstreamTlsConfig } from "../../config/file/upstream-tls-schema.js";

const loaded = new WeakMap<UpstreamTlsConfig, AgentOptions>();

/** Agent options for `host` under `tls` (never throws: see the unreadable-file case). */
export function upstreamTlsOptions(tls: UpstreamTlsConfig, host: string): AgentOptions {
  let base = loaded.get(tls);
  if (base === undefined) {
    try {
      base = {
        ca: tls.ca === undefined ? undefined : readPem(tls.ca),
        cert: tls.cert === undefined ? undefined : readPem(tls.cert),
        key: tls.key === undefined ? undefined : readPem(tls.key),
        minVersion: tls.minVersion,
        rejectUnauthorized: tls.verify,
      };
    } catch {
      // A file that vanished after the start-up check (a reload naming a new path): an empty
      // CA list with verification forced on fails every handshake, i.e. a 502, never a
      // crash and never an unverified or certificate-less connection.
      base = { ca: [], minVersion: tls.minVersion, rejectUnauthorized: true };
    }
    loaded.set(tls, base);
  }
  // Without an explicit name Node would send, and verify against, the client's Host header;
  // "" for an IP member means no SNI and the IP checked against the certificate's SANs.
  const servername = tls.servername ?? (isIP(host) === 0 ? host : "");
  return { ...base, servername };
}

/** Pools whose upstream certificates are not verified, for the loud warning at load. */
export function unverifiedTlsPools(pools: Record<string, { tls?: UpstreamTlsConfig }>): string[] {
  return Object.entries(pools)
    .filter(([, p]) => p.tls !== undefined && !p.tls.verify)
    .map(([name]) => name);
}

/** The pools' TLS files that cannot be read, as "pools.P.tls: message" lines; empty when all are fine. */
export function unreadableTlsFiles(pools: Record<string, { tls?: UpstreamTlsConfig }>): string[] {
  const out: string[] = [];
  for (const [name, p] of Object.entries(pools)) {
    if (p.tls === undefined) continue;
    for (const f of [p.tls.ca, p.tls.cert, p.tls.key]) {
      if (f === undefined) continue;
      try {
        readPem(f);
      } catch (err) {
        const message = (err as Error).message;
        out.push(
          `pools.${name}.tls: cannot read ${message.startsWith(`${f}: `) ? message : `${f}: ${message}`}`,
        );
      }
    }
  }
  return out;
}

function readPem(path: string): Buffer {
  return readFileBoundedSync(path, MAX_PEM_BYTES);
}
