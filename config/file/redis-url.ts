// redis.url, checked as ioredis will read it. ioredis parses the URL only when its client is
// built, at start, and throws there: `redis://127.0.0.1:99999`, `redis://[::1`, or a password
// with a stray `%` (`redis://:p%zz@host`) passed `validate` (and a reload, which keeps the
// running client until a restart) and then killed `start` with a bare `TypeError: Invalid URL`
// or `URIError: URI malformed` stack trace naming no field; a db that is no number
// (`redis://host:6379/cache`) was sent as `SELECT cache` and refused by Redis on every
// connect (test/outside/redis-url-checked.test.ts).

import { bad, ok, type Parsed } from "./parsed.js";

const EXPECTED =
  "a URL like redis://127.0.0.1:6379 (rediss:// for TLS, redis://[user:password@]host:port[/db])";

/** `input` unchanged when ioredis can connect by it; else what is wrong with it. */
export function parseRedisUrl(input: unknown): Parsed<string> {
  if (typeof input !== "string") return bad(EXPECTED);
  const wrong = (why: string) => bad<string>(`${EXPECTED}; ${why}`, JSON.stringify(withoutPassword(input)));
  if (!/^rediss?:\/\/[^\s]+$/.test(input)) return bad(EXPECTED, JSON.stringify(withoutPassword(input)));
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return wrong(
      'this is no URL (a port is 1-65535, an IPv6 address is in brackets, a "/", "?", "#" or "@" in the password is written %2F, %3F, %23, %40)',
    );
  }
  if (url.hostname === "") return wrong("the host is missing");
  if (url.port === "0") return wrong("the port is 1-65535");
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return wrong('the user or password has a "%" that starts no escape (write "%25" for "%")');
  }
  if (url.pathname !== "" && url.pathname !== "/" && !/^\/\d+$/.test(url.pathname))
    return wrong("the db after the host is a number");
  // ioredis takes every query item as an option where the URL itself leaves one out:
  // `redis://host?db=cache` sent `SELECT cache` on every connect, and `redis://host?port=99999`
  // passed `validate` and then failed every connect with a RangeError.
  const db = url.searchParams.get("db");
  if (db !== null && !/^\d+$/.test(db)) return wrong("the db in ?db= is a number");
  const port = url.searchParams.get("port");
  if (port !== null && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))
    return wrong("the port in ?port= is 1-65535");
  return ok(input);
}

/**
 * `url` as an error may show it: the password between "user:" and the last "@", and a
 * `?password=` item's value (ioredis takes that one too), replaced by "***". The last "@": a
 * password with an unescaped "/" or "@" in it (generated ones often have both) ends no URL
 * where a URL parser would end it, and was shown whole or in part.
 */
function withoutPassword(url: string): string {
  const masked = url.replace(/([?&]password=)[^&#]*/gi, "$1***");
  const start = masked.indexOf("://") + 3;
  const at = masked.lastIndexOf("@");
  const colon = masked.indexOf(":", start);
  if (at < start || colon < 0 || colon > at) return masked;
  return `${masked.slice(0, colon + 1)}***${masked.slice(at)}`;
}
