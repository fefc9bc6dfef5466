// `shardgate ctl route POOL KEY...` and `--keys-file F` (`-` for stdin): where keys go now.
// One key keeps the detailed answer of /admin/route; several keys are asked of /admin/routes in
// batches (at most ROUTES_BATCH_KEYS keys, and a query short enough for the admin server's
// request-line limit; a batch refused as too long anyway is asked in halves), and print one
// table row per key in the order given.

import { statSync } from "node:fs";
import { errorText } from "../../config/coded-error.js";
import { readDescriptorBoundedSync, readFileBoundedSync } from "../../config/file/bounded-read.js";
import { readPipe } from "../../config/file/pipe-read.js";
import { UsageError } from "../commands/usage-error.js";
import { testDurationMs } from "../test-duration.js";
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
  hashedAs?: string;
  member: string | null;
  owner: string | null;
  keyHash: number;
  ringVersion: number;
  skipped: Array<{ id: string; reason: string }>;
  /** A missing key (empty, or an ip key that identifies nobody): each route's policy instead of a member. */
  onMissingKey?: Array<{ route: string; policy: string }>;
}

/** " (as TEXT)" when the text hashed differs from the key asked about; " (no key)" when none is read. */
function asText(r: RouteAnswer): string {
  if (typeof r.hashedAs !== "string") return "";
  return r.hashedAs === "" ? " (no key)" : ` (as ${r.hashedAs})`;
}

/** The member column: the member, or for a missing key what each route does with it. */
function memberText(r: RouteAnswer): string {
  if (Array.isArray(r.onMissingKey) && r.member === null)
    return `no key: ${r.onMissingKey.map((m) => `onMissingKey ${String(m?.policy)} (${String(m?.route)})`).join(", ") || "no route"}`;
  return r.member ?? "none available";
}

/** The most a keys file (or standard input) may hold (a directory or /dev/zero given by mistake is refused, not read to 2 GiB). */
export const MAX_KEYS_FILE_BYTES = 64 * 1024 * 1024;

/**
 * How long a piped keys file may give nothing before ctl gives up: `--keys-file <(cmd)` is a
 * common idiom, but a FIFO nobody writes blocked ctl for ever (readFileSync in open(2)). A test
 * that waits for the bound shortens it with SHARDGATE_TEST_KEYS_PIPE_IDLE_MS (../test-duration.ts).
 */
export const KEYS_PIPE_IDLE_MS = testDurationMs("KEYS_PIPE_IDLE_MS", 10_000);

/**
 * A keys file's text: stdin, a pipe (`--keys-file <(cmd)`, a named FIFO) read to its end while
 * something arrives at least every KEYS_PIPE_IDLE_MS, else a bounded regular file.
 */
async function readKeysText(file: string, idleMs: number): Promise<string> {
  if (file === "-") return readDescriptorBoundedSync(0, file, MAX_KEYS_FILE_BYTES).toString("utf8");
  let pipe = false;
  try {
    pipe = statSync(file).isFIFO();
  } catch {
    // the bounded read below says why
  }
  const bytes = pipe
    ? await readPipe(file, { maxBytes: MAX_KEYS_FILE_BYTES, idleMs })
    : readFileBoundedSync(file, MAX_KEYS_FILE_BYTES);
  return bytes.toString("utf8");
}

/** The keys of a keys file: one per line (LF or CRLF), blank lines skipped. */
async function readKeys(file: string, idleMs = KEYS_PIPE_IDLE_MS): Promise<string[]> {
  let text: string;
  try {
    text = await readKeysText(file, idleMs);
  } catch (err) {
    const why = errorText(err);
    const what = why.startsWith(`${file}: `) ? why.slice(file.length + 2) : why;
    throw new UsageError(`--keys-file ${file === "-" ? "- (stdin)" : `"${file}"`}: ${what}`);
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
 * What to do about a key refused as too long alone in its request. Node's parser on the admin
 * port takes 16 KiB of request line and headers, the proxy port 8 KB; a proxy in front of the
 * admin port may take less.
 */
const ONE_KEY_TOO_LONG =
  "a key or pool name this long cannot be asked at that address: use a shorter one (shardgate's admin port takes 16 KiB a request, its proxy port 8 KB: check --admin)";

/** `client.ok`, with a request refused as too long (request_too_long) told what to do. */
async function askOne(client: AdminClient, path: string, fields: readonly string[]): Promise<unknown> {
  try {
    return await client.ok("GET", path, fields);
  } catch (err) {
    if (err instanceof CtlError && err.code === "request_too_long")
      throw new CtlError(err.code, `${err.message}; ${ONE_KEY_TOO_LONG}`);
    throw err;
  }
}

/**
 * The routes of `batch` from /admin/routes. A batch refused as too long (414/431: a server, or a
 * proxy in front of it, that takes less than ctl's batches) is asked again in halves, down to
 * one key a request; the rows keep the keys' order.
 */
async function routesOf(
  client: AdminClient,
  pool: string,
  batch: readonly string[],
  source: string,
): Promise<RouteAnswer[]> {
  const seg = encodeURIComponent;
  const path = `/admin/routes?pool=${seg(pool)}${source}${batch.map((k) => `&key=${seg(k)}`).join("")}`;
  let body: { routes: unknown };
  try {
    body = (await client.ok("GET", path, ["routes"])) as { routes: unknown };
  } catch (err) {
    if (!(err instanceof CtlError) || err.code !== "request_too_long") throw err;
    if (batch.length === 1) throw new CtlError(err.code, `${err.message}; ${ONE_KEY_TOO_LONG}`);
    const half = Math.ceil(batch.length / 2);
    const first = await routesOf(client, pool, batch.slice(0, half), source);
    return [...first, ...(await routesOf(client, pool, batch.slice(half), source))];
  }
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
  return got.map((r, i) => ({ ...r, key: batch[i] }));
}

export async function route(ctx: CtlContext, args: string[]): Promise<CtlOutput> {
  const [pool, ...given] = args;
  const keys = ctx.keysFile === undefined ? given : [...given, ...(await readKeys(ctx.keysFile))];
  if (pool === undefined || keys.length === 0)
    throw new UsageError(
      `"route" takes POOL KEY... (or POOL with --keys-file FILE), got ${args.length} argument(s)${ctx.keysFile === undefined ? "" : " and no key in the file"}`,
    );
  const client = ctx.clients[0];
  const seg = encodeURIComponent;
  // The admin API reads each key as this source's requests would (proxy/routing/key-text.ts).
  const source = ctx.source === undefined ? "" : `&source=${seg(ctx.source)}`;
  if (keys.length === 1 && ctx.keysFile === undefined) {
    const r = (await askOne(
      client,
      `/admin/route?pool=${seg(pool)}${source}&key=${seg(keys[0])}`,
      ROUTE_FIELDS,
    )) as RouteAnswer;
    return {
      json: r,
      text: [
        `key      ${keys[0]}${asText(r)} (hash ${r.keyHash})`,
        `member   ${memberText(r)}`,
        `owner    ${r.owner ?? "-"}`,
        `skipped  ${skippedText(r)}`,
        `ring     version ${r.ringVersion}`,
      ].join("\n"),
    };
  }
  const routes: RouteAnswer[] = [];
  for (const batch of routeBatches(keys)) routes.push(...(await routesOf(client, pool, batch, source)));
  return {
    json: { pool, routes },
    text: table(
      ["KEY", "MEMBER", "OWNER", "SKIPPED", "RING"],
      routes.map((r) => [`${r.key}${asText(r)}`, memberText(r), r.owner, skippedText(r), r.ringVersion]),
    ),
  };
}
