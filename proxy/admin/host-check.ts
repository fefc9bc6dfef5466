// Which Host values the admin server answers: a defence against DNS rebinding. A page on
// evil.example whose name the attacker re-points at 127.0.0.1 is, to the browser, the same
// origin as its own site, so it could read /admin/* and /metrics from an operator's laptop;
// its requests carry `Host: evil.example:PORT`, and that is what gives them away.
//
// Accepted, whatever the port: an IP address literal (a page served from an address cannot be
// rebound; it is that address), `localhost` and `*.localhost` (resolved by the browser itself,
// RFC 6761), a name without a dot (public DNS serves no dotless names, so no page on the
// internet can be one: this keeps a Kubernetes pod name or a bare host name working), the
// machine's host name, the admin listen host, the hosts of `admin.fleet` (the operator named
// them as admin addresses), and `admin.allowedHosts` (exact names, `*.suffix`, or `*` for any).
// A request without a Host (HTTP/1.0), or with an empty one, is no browser's and is accepted.

import { isIP } from "node:net";
import { hostname } from "node:os";

export interface HostNames {
  /** The admin listen host (an address or a name). */
  listenHost: string;
  /** os.hostname(). */
  machineName: string;
  /** admin.fleet's URLs. */
  fleet: readonly string[];
  /** admin.allowedHosts. */
  allowedHosts: readonly string[];
}

/** The host part of a Host header value, lower-cased, without port, brackets or a final dot. */
export function hostName(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    return end < 0 ? v : v.slice(1, end);
  }
  const colon = v.lastIndexOf(":");
  const name = colon >= 0 && /^\d*$/.test(v.slice(colon + 1)) ? v.slice(0, colon) : v;
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

function urlHost(url: string): string | undefined {
  try {
    return hostName(new URL(url).host);
  } catch {
    return undefined;
  }
}

/** A predicate over Host header values built from the names that name this admin server. */
export function hostAllowed(names: HostNames): (host: string | undefined) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  let any = false;
  for (const n of [names.listenHost, names.machineName, ...names.allowedHosts]) {
    const h = n.trim().toLowerCase();
    if (h === "*") any = true;
    // Without a final dot, as hostName leaves the Host it is compared with ("*.ops.example.").
    else if (h.startsWith("*.")) suffixes.push(h.endsWith(".") ? h.slice(1, -1) : h.slice(1));
    else if (h !== "") exact.add(hostName(h));
  }
  for (const u of names.fleet) {
    const h = urlHost(u);
    if (h !== undefined) exact.add(h);
  }
  return (host) => {
    if (any || host === undefined) return true;
    const name = hostName(host);
    if (isIP(name) !== 0 || !name.includes(".") || name.endsWith(".localhost")) return true;
    if (exact.has(name)) return true;
    return suffixes.some((s) => name.endsWith(s) && name.length > s.length);
  };
}

/**
 * The predicate for a running instance: rebuilt when a reload swaps the admin section (the
 * listen host is read at start; the listener does not move on reload).
 */
export function adminHostCheck(
  listenHost: string,
  admin: () => { fleet: readonly string[]; allowedHosts?: readonly string[] },
): (host: string | undefined) => boolean {
  let seen: object | undefined;
  let check: (host: string | undefined) => boolean = () => false;
  return (host) => {
    const a = admin();
    if (a !== seen) {
      seen = a;
      check = hostAllowed({
        listenHost,
        machineName: hostname(),
        fleet: a.fleet,
        allowedHosts: a.allowedHosts ?? [],
      });
    }
    return check(host);
  };
}
