// `shardgate ctl route POOL KEY...` and `--keys-file F` (`-` for stdin): where keys go now.
// One key keeps the detailed answer of /admin/route; several keys are asked of /admin/routes in
// batches (at most ROUTES_BATCH_KEYS keys, and a query short enough for the admin server's
// request-line limit), and print one table row per key in the order given.

import { readFileSync } from "node:fs";
import { errorText } from "../../config/coded-error.js";
import { UsageError } from "../commands/usage-error.js";
import { type AdminClient, CtlError } from "./admin-client.js";
import type { CtlContext, CtlOutput } from "./commands.js";
import { table } from "./tables.js";

/** The admin API's per-request bound on /admin/routes keys (400 too_many_keys above it). */
export const ROUTES_BATCH_KEYS = 1000;
/**
 * Encoded `&key=...` bytes one request may carry: Node's HTTP server refuses a request whose
 * request line and headers pass 16 KiB (431), so a batch of long keys closes early.
 */
const ROUTES_BATCH_QUERY_BYTES = 12 * 1024;
const ROUTE_FIELDS = ["member", "keyHash", "skipped", "ringVersion"];

interface RouteAnswer {
  key?: string;
  member: string | null;
  owner: string | null;
  keyHash: number;
  ringVersion: number;
  skipped: Array<{ id: string; reason: string }>;
}

/** The keys of a keys file: one per line (LF or CRLF), blank lines skipped. */
function readKeys(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw new UsageError(`--keys-file ${file === "-" ? "- (stdin)" : `"${file}"`}: ${errorText(err)}`);
  }
  return text
    .split("\n")
    .map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l))
    .filter((l) => l !== "");
}

/** `keys` cut into batches of at most ROUTES_BATCH_KEYS keys and ROUTES_BATCH_QUERY_BYTES. */
export function routeBatches(keys: readonly string[]): string[][] {
  const batches: string[][] = [];
  let batch: string[] = [];
  let bytes = 0;
  for (const key of keys) {
    const size = 5 + encodeURIComponent(key).length;
    if (batch.length === ROUTES_BATCH_KEYS || (batch.length > 0 && bytes + size > ROUTES_BATCH_QUERY_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(key);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

const skippedText = (r: RouteAnswer) =>
  r.skipped.length === 0 ? "none" : r.skipped.map((s) => `${s.id} (${s.reason})`).join(", ");

/**
 * `client.ok`, with a request refused as too long (request_too_long) told how to ask instead:
 * a key this long cannot be asked at all, many keys go in batches from --keys-file.
 */
async function ask(
  client: AdminClient,
  path: string,
  keys: readonly string[],
  count: number,
): Promise<unknown> {
  try {
    return await client.ok("GET", path, keys);
  } catch (err) {
    if (!(err instanceof CtlError) || err.code !== "request_too_long") throw err;
    // Node's parser on the admin port takes 16 KiB of request line and headers; ctl's batches
    // stay under ROUTES_BATCH_QUERY_BYTES, so only a long key or pool name (alone in its
    // batch) passes it, or a server with a lower limit (shardgate's proxy port takes 8 KB).
    const hint =
      count === 1
        ? "a key or pool name this long cannot be asked of the admin API (16 KiB a request): use a shorter one"
        : "ask fewer or shorter keys a request (`ctl route POOL --keys-file FILE` reads them from a file and sends them in batches), and check --admin: the admin API takes 16 KiB a request, shardgate's proxy port 8 KB";
    throw new CtlError(err.code, `${err.message}; ${hint}`);
  }
}

export async function route(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  const [pool, ...given] = args;
  const keys = ctx.keysFile === undefined ? given : [...given, ...readKeys(ctx.keysFile)];
  if (pool === undefined || keys.length === 0)
    throw new UsageError(
      `"route" takes POOL KEY... (or POOL with --keys-file FILE), got ${args.length} argument(s)${ctx.keysFile === undefined ? "" : " and no key in the file"}`,
    );
  const client = ctx.clients[0];
  const seg = encodeURIComponent;
  if (keys.length === 1 && ctx.keysFile === undefined) {
    const r = (await ask(
      client,
      `/admin/route?pool=${seg(pool)}&key=${seg(keys[0])}`,
      ROUTE_FIELDS,
      1,
    )) as RouteAnswer;
    return {
      json: r,
      text: [
        `key      ${keys[0]} (hash ${r.keyHash})`,
        `member   ${r.member ?? "none available"}`,
        `owner    ${r.owner ?? "-"}`,
        `skipped  ${skippedText(r)}`,
        `ring     version ${r.ringVersion}`,
      ].join("\n"),
    };
  }
  const routes: RouteAnswer[] = [];
  for (const batch of routeBatches(keys)) {
    const path = `/admin/routes?pool=${seg(pool)}${batch.map((k) => `&key=${seg(k)}`).join("")}`;
    const body = (await ask(client, path, ["routes"], batch.length)) as { routes: unknown };
    const got = Array.isArray(body.routes) ? (body.routes as RouteAnswer[]) : [];
    const whole =
      got.length === batch.length &&
      got.every((r) => typeof r === "object" && r !== null && ROUTE_FIELDS.every((f) => Object.hasOwn(r, f)));
    // Rows for other keys, or fewer of them, must not be printed as these keys' answers.
    if (!whole)
      throw new CtlError(
        "not_admin_api",
        `${client.base} is not a shardgate admin API: GET /admin/routes answered ${got.length} route(s) for ${batch.length} key(s); check --admin`,
      );
    for (const [i, r] of got.entries()) routes.push({ ...r, key: batch[i] });
  }
  return {
    json: { pool, routes },
    text: table(
      ["KEY", "MEMBER", "OWNER", "SKIPPED", "RING"],
      routes.map((r) => [r.key, r.member ?? "none available", r.owner, skippedText(r), r.ringVersion]),
    ),
  };
}
