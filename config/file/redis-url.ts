// redis.url, checked as ioredis will read it. ioredis parses the URL only when its client is
// built, at start, and throws there: `redis://127.0.0.1:99999`, `redis://[::1`, or a password
// with a stray `%` (`redis://:p%zz@host`) passed `validate` (and a reload, which keeps the
// running client until a restart) and then killed `start` with a bare `TypeError: Invalid URL`
// or `URIError: URI malformed` stack trace naming no field; a db that is no number
// (`redis://host:6379/cache`) was sent as `SELECT cache` and refused by Redis on every
// connect (test/outside/redis-url-checked.test.ts).
// ioredis also reads forms this refused (test/outside/redis-url-forms.test.ts): its scheme in
// any letter case, and a unix socket, as a bare absolute path (`/run/redis.sock?db=2`) or as
// `unix:///run/redis.sock` / `redis+unix:///run/redis.sock`, which it takes as a host named
// "unix" with the URL's path as the socket path. Those are accepted where they mean what they
// say; the rest is refused with the form to write instead: `REDISS://` (ioredis turns TLS on
// only for a lower-case `rediss://` and would talk plain text), a socket path the URL parser
// changes (`%20` for a space, a `#`), a relative one, and forms without a scheme (ioredis reads
// `host:6379/2` as the unix socket "/2"). Query items other than db, port, username, password
// and family are refused by name (queryError says why), but for an ioredis TLS profile named by
// ?tls= on a rediss:// URL.

import { bad, ok, type Parsed } from "./parsed.js";

const EXPECTED =
  "a URL like redis://127.0.0.1:6379 (rediss:// for TLS, redis://[user:password@]host:port[/db], " +
  "or a unix socket: /run/redis.sock[?db=N] or unix:///run/redis.sock)";

/** The longest unix socket path Linux connects to (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** `input` unchanged when ioredis can connect by it and means what it says; else what is wrong with it. */
export function parseRedisUrl(input: unknown): Parsed<string> {
  if (typeof input !== "string") return bad(EXPECTED);
  const wrong = (why: string) => bad<string>(`${EXPECTED}; ${why}`, JSON.stringify(withoutPassword(input)));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  if (/[\x00-\x1f\x7f]/.test(input)) return bad(EXPECTED, JSON.stringify(withoutPassword(input)));
  if (input.startsWith("/") && !input.startsWith("//")) return socketPath(input, wrong);
  const socketUrl = /^(?:redis\+)?unix:/i.exec(input);
  if (socketUrl !== null) return socketUrlForm(input, socketUrl[0].length, wrong);
  const scheme = /^(rediss?):\/\/\S+$/i.exec(input);
  if (scheme === null) return bad(EXPECTED, JSON.stringify(withoutPassword(input)));
  if (scheme[1].length === 6 && scheme[1] !== "rediss")
    return wrong("ioredis turns TLS on only for a lower-case rediss:// (this one would be plain text)");
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return wrong(
      'this is no URL (a port is 1-65535, an IPv6 address is in brackets, a "/", "?", "#" or "@" in the password is written %2F, %3F, %23, %40)',
    );
  }
  if (url.hostname === "")
    return wrong("the host is missing (a unix socket is written /run/redis.sock or unix:///run/redis.sock)");
  if (url.port === "0") return wrong("the port is 1-65535");
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return wrong('the user or password has a "%" that starts no escape (write "%25" for "%")');
  }
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d+$/.test(url.pathname))
    return wrong("the db after the host is a number");
  const why = queryError(url.searchParams, scheme[1] === "rediss");
  return why === null ? ok(input) : wrong(why);
}

/** `/run/redis.sock[?query]`: ioredis takes the text before the first "?" as the socket path, verbatim. */
function socketPath(input: string, wrong: (why: string) => Parsed<string>): Parsed<string> {
  const q = input.indexOf("?");
  const path = q < 0 ? input : input.slice(0, q);
  const why = pathError(path) ?? (q < 0 ? null : queryError(new URLSearchParams(input.slice(q + 1))));
  return why === null ? ok(input) : wrong(why);
}

/**
 * `unix:///run/redis.sock`, `unix:/run/redis.sock`, `redis+unix:///run/redis.sock`: ioredis
 * parses them as `redis://` + the text, a host named by the scheme, and connects to the URL's
 * path. Accepted when that path is the text as written (an absolute path the parser leaves
 * alone): "///run/redis.sock" is the same file as "/run/redis.sock".
 */
function socketUrlForm(
  input: string,
  schemeLength: number,
  wrong: (why: string) => Parsed<string>,
): Parsed<string> {
  const rest = input.slice(schemeLength);
  const q = rest.indexOf("?");
  const written = q < 0 ? rest : rest.slice(0, q);
  // "unix://run/redis.sock" names a host "run" in URL terms: which file was meant is a guess.
  if (!written.startsWith("/") || /^\/\/[^/]/.test(written))
    return wrong("the socket path is absolute, after three slashes: unix:///run/redis.sock");
  // The URL parser leaves "%20" as it is, and so ioredis connects to a file whose name holds
  // "%20", not the space a URL's reader (and its writer) takes it for.
  if (written.includes("%"))
    return wrong(
      'ioredis takes a "%" in a socket URL as written, not as an escape (%20 is no space); write the path alone: /run/redis.sock',
    );
  let url: URL;
  try {
    url = new URL(`redis://${input}`);
  } catch {
    return wrong("this is no URL; write the socket path alone: /run/redis.sock");
  }
  if (url.pathname !== written || url.hash !== "")
    return wrong(
      'ioredis would read another socket path (a space, "%", "#" or non-ASCII letter is escaped in a URL); write the path alone: /run/redis.sock',
    );
  const why = pathError(written) ?? queryError(url.searchParams);
  return why === null ? ok(input) : wrong(why);
}

function pathError(path: string): string | null {
  if (path.replace(/^\/+/, "") === "") return "the socket path names no file";
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES)
    return `a unix socket path is at most ${MAX_SOCKET_PATH_BYTES} bytes`;
  return null;
}

/**
 * The query items that say what the URL's own parts say (a db, a port, a user, a password) or
 * pick the address family of the host's lookup. ioredis takes every query item as the option of
 * that name where the URL itself leaves one out, whatever the name, so any other item changed
 * what shardgate connects to behind the URL's back, and the items below are refused by name.
 */
const QUERY_ITEMS = new Set(["db", "port", "username", "password", "family"]);

/**
 * ioredis's TLS profiles (node_modules/ioredis/built/constants/TLSProfiles.js): `?tls=` naming
 * one sets the CA that profile trusts (Redis Cloud's, for both). On a `rediss://` URL that is
 * what the URL says, TLS, with the CA its provider documents, and the only way redis.url can
 * name that CA; any other value is a string ioredis merges into its TLS options as characters.
 */
const TLS_PROFILES: ReadonlySet<string> = new Set(["RedisCloudFixed", "RedisCloudFlexible"]);

/** Why an item ioredis would read is refused: what it would do instead of what the URL says. */
const REFUSED_ITEMS: ReadonlyMap<string, string> = new Map([
  [
    "path",
    "?path= makes ioredis connect to the unix socket it names instead of the URL's host; a socket is written as the whole redis.url: /run/redis.sock",
  ],
  [
    "tls",
    `?tls= turns TLS on for any value, tls=0 and tls=false too; write rediss:// for TLS (with rediss://, ?tls= names one of ioredis's TLS profiles: ${[...TLS_PROFILES].join(", ")})`,
  ],
  ["host", "?host= is ignored by ioredis (the URL's host or socket path wins); write the host in the URL"],
]);

/**
 * ioredis takes every query item as an option where the URL itself leaves one out:
 * `redis://host?db=cache` sent `SELECT cache` on every connect, `redis://host?port=99999`
 * passed `validate` and then failed every connect with a RangeError, `redis://host?path=/x`
 * connected to the unix socket /x and `redis://host?tls=1` spoke TLS to a plain-text port.
 */
function queryError(params: URLSearchParams, tls = false): string | null {
  for (const [name, value] of params) {
    if (name === "tls" && tls && TLS_PROFILES.has(value)) continue;
    const refused = REFUSED_ITEMS.get(name);
    if (refused !== undefined) return refused;
    if (!QUERY_ITEMS.has(name))
      return `?${name}= is no redis.url item (ioredis would take it as its "${name}" option); the items read are ?db=, ?port=, ?username=, ?password= and ?family=`;
  }
  // Every one: ioredis keeps the last of a repeated item (`?db=2&db=cache` sent SELECT NaN).
  for (const db of params.getAll("db")) if (!/^\d+$/.test(db)) return "the db in ?db= is a number";
  for (const port of params.getAll("port"))
    if (!(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))
      return "the port in ?port= is 1-65535";
  // ioredis passes a number to the lookup, anything else as it is (a string net.connect refuses).
  for (const family of params.getAll("family"))
    if (!/^[046]$/.test(family)) return "the family in ?family= is 4, 6 or 0 (either)";
  return null;
}

/**
 * `url` as an error may show it: the password between "user:" and the last "@", and the value
 * of every query item that may be a secret (`?password=`, which ioredis takes too, and any item
 * refused by name), replaced by "***". The last "@": a
 * password with an unescaped "/" or "@" in it (generated ones often have both) ends no URL
 * where a URL parser would end it, and was shown whole or in part.
 */
function withoutPassword(url: string): string {
  return withoutQuerySecrets(withoutUserPassword(url));
}

function withoutUserPassword(url: string): string {
  // A socket path has no user info; an "@" or ":" in it is part of the file's name.
  if (url.startsWith("/") || /^(?:redis\+)?unix:/i.test(url)) return url;
  const start = url.indexOf("://") + 3;
  const at = url.lastIndexOf("@");
  const colon = url.indexOf(":", start);
  if (at < start || colon < 0 || colon > at) return url;
  return `${url.slice(0, colon + 1)}***${url.slice(at)}`;
}

/** Query items whose value an error may show: none of them is a secret. */
const SHOWN_ITEMS = new Set(["db", "port", "family", "username", "tls", "path", "host"]);

/**
 * Every other item's value as "***": a refused item may be one of ioredis's secrets
 * (`?sentinelPassword=`), and its name is read as URLSearchParams decodes it (`?pass%77ord=`).
 */
function withoutQuerySecrets(url: string): string {
  return url.replace(/([?&])([^=&#]*)=([^&#]*)/g, (item: string, sep: string, name: string) => {
    const decoded = new URLSearchParams(`${name}=`).keys().next().value;
    return decoded !== undefined && SHOWN_ITEMS.has(decoded) ? item : `${sep}${name}=***`;
  });
}
