// The text `/admin/route`, `/admin/routes` and `shardgate ctl route` hash for a key as an operator
// writes it. Requests put a key into one canonical text before hashing (key-extract.ts: an `ip`
// key in RFC 5952 / dotted form, a `header:host` key in lower case (from level 6 also without a
// trailing dot and the default port: host-key.ts), query and path values
// percent-decoded), so the admin answer must hash the same text, or `2001:DB8::1` names another
// member than the client `2001:db8::1` is routed to.
// - `source` given (a key source as a route writes it: "ip", "header:host", "query:user", ...):
//   the key is put in that source's canonical text. Query, path, cookie and other header keys
//   are taken as the decoded value a request yields (what the access log's key is), as given.
// - `source` absent: an address spelling (brackets, a port, upper-case or uncompressed IPv6,
//   v4-mapped IPv6) is read as an `ip` key; any other text is hashed as given.
// Under the previous build's rules ("v3", a clustered instance below cluster level 4), requests
// only unmap an `ip` key from ::ffff:a.b.c.d, so that is all the answer does to one.
// From level 5 ("v5") an `ip` key that identifies nothing (`unknown`, `_obfuscated`, as a
// `Forwarded: for=` node; a port may follow) is no key at all for a request: the text is "" (the
// missing key, answered with the routes' onMissingKey), with `why` saying so. At "v4" it is text.
// From level 6 ("v6") a `header:host` key is host-key.ts's text (trailing dot and default port
// dropped; `defaultPort` is the listener's: 80 unless the caller says its listener is TLS). From
// level 7 ("v7") ports 80 and 443 are both dropped and `defaultPort` plays no part: every
// instance answers one text, as every listener reads one.

import { parseKeySpec } from "../../config/file/key-spec.js";
import { canonicalAddress, unmapIPv4 } from "./address-text.js";
import { textIdentifiesNothing } from "./forwarded.js";
import { HTTP_PORT, hostKeyText, hostKeyTextV6 } from "./host-key.js";
import { CURRENT_KEY_RULES, type KeyRules, lowerCased } from "./key-extract.js";

export type KeyText =
  | { readonly ok: true; readonly key: string; readonly why?: string }
  | { readonly ok: false; readonly message: string };

/** The text hashed for `given` read as a key of `source` (null: none named), or why `source` is no key source. */
export function canonicalKeyText(
  given: string,
  source: string | null,
  rules: KeyRules = CURRENT_KEY_RULES,
  defaultPort = HTTP_PORT,
): KeyText {
  const address = rules === "v3" ? unmapIPv4 : canonicalAddress;
  if (source === null || source === "") return { ok: true, key: address(given) };
  const spec = parseKeySpec(source);
  if (!spec.ok) return { ok: false, message: `query parameter 'source': ${spec.expected}, got "${source}"` };
  const s = spec.value;
  if (rules === "v3") return { ok: true, key: s.kind === "ip" ? unmapIPv4(given) : given };
  if (s.kind === "ip") {
    if (rules !== "v4" && textIdentifiesNothing(given)) return { ok: true, key: "", why: NOTHING_WHY };
    return { ok: true, key: canonicalAddress(given) };
  }
  if (s.kind === "header" && s.name === "host")
    return {
      ok: true,
      key:
        rules === "v4" || rules === "v5"
          ? lowerCased(given)
          : rules === "v6"
            ? hostKeyTextV6(given, defaultPort)
            : hostKeyText(given),
    };
  return { ok: true, key: given };
}

const NOTHING_WHY =
  "this ip key identifies no client (RFC 7239 section 6: unknown, _obfuscated), so a request " +
  "carrying it as its Forwarded for= node or X-Forwarded-For entry has no ip key (a later key source of the route decides, if it has one)";
