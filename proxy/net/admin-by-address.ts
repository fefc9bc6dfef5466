// Asking an admin port by address. An admin port answers only a Host that names it
// (proxy/admin/host-check.ts: DNS rebinding), and a name an operator gives for an instance
// (`admin.fleet`, `shardgate ctl --admin http://node1.internal:9901`) is not one unless that
// instance lists it; an address it always answers. So a plain-HTTP admin URL's name is resolved
// here and each address is asked in turn, as connecting by name tries each: a name with A and
// AAAA records whose admin port listens on one family still answers. An https:// URL keeps its
// name: the certificate is checked against it. The fleet view (proxy/app/fleet-view.ts) and ctl
// (proxy/ctl/admin-client.ts) share this, each with its own lookup and its own lookup errors.

import type { LookupAddress } from "node:dns";
import { isIP } from "node:net";

type LookupAll = (
  hostname: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[]) => void,
) => void;

/** Connection failures after which the name's next address is tried (nothing was sent). */
const NEXT_ADDRESS: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * The URLs to ask for `url`, in the lookup's order: `url` itself when it is https:// or its host
 * is an address, else `url` with its name replaced by each address the name resolves to. A failed
 * lookup, or one that gives no address (`err` null), rejects with `lookupError`'s error; an abort
 * of `signal` rejects with its reason.
 */
export function adminUrlsByAddress(
  url: string,
  lookup: LookupAll,
  signal: AbortSignal,
  lookupError: (hostname: string, err: NodeJS.ErrnoException | null) => Error,
): Promise<string[]> {
  const u = new URL(url);
  if (u.protocol !== "http:" || isIP(u.hostname.replace(/^\[|\]$/g, "")) !== 0) return Promise.resolve([url]);
  const name = u.hostname;
  // toString() gives a bare origin the path "/": a URL given without one gets none back.
  const bare = !url.endsWith("/");
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    lookup(name, { all: true }, (err, addresses) => {
      signal.removeEventListener("abort", abort);
      if (err !== null) return reject(lookupError(name, err));
      const list = typeof addresses === "string" ? [{ address: addresses }] : addresses;
      if (list.length === 0) return reject(lookupError(name, null));
      resolve(
        list.map(({ address: a }) => {
          u.hostname = a.includes(":") ? `[${a}]` : a;
          const s = u.toString();
          return bare && s.endsWith("/") ? s.slice(0, -1) : s;
        }),
      );
    });
  });
}

/**
 * `attempt` at each of `urls` in turn until one answers. A connection failure that sent nothing
 * (NEXT_ADDRESS) moves on to the next address; any other failure, or the last address's, is thrown.
 */
export async function firstAnswer<T>(
  urls: readonly string[],
  attempt: (url: string) => Promise<T>,
): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt(urls[i]);
    } catch (err) {
      if (i + 1 >= urls.length || !NEXT_ADDRESS.has(causeCode(err) ?? "")) throw err;
    }
  }
}

/**
 * The code of a failed request: its own (undici's request(), net/admin-request.ts) or its
 * cause's (fetch()), the first of several as a connect to many reports them.
 */
function causeCode(err: unknown): string | undefined {
  type Coded = { code?: unknown; errors?: Array<{ code?: string }> };
  for (const e of [err as Coded, (err as { cause?: Coded }).cause]) {
    if (typeof e?.code === "string") return e.code;
    if (e?.errors?.[0]?.code !== undefined) return e.errors[0].code;
  }
  return undefined;
}
