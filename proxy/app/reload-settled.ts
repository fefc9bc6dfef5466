// The files of a reload read only once they hold still (config/file/settled-file.ts): the
// config file, then the upstream TLS files the new config names. Only a file written in place
// (the inode of its last read) and changed within the settle period is waited for; one renamed
// into place is read at once. What was waited for is logged; a file still changing after the
// bound refuses the reload (the running config stays).

import type { Logger } from "pino";
import type { ConfigError } from "../../config/file/config-error.js";
import type { ConfigResult } from "../../config/file/load.js";
import type { ShardgateConfig } from "../../config/file/schema.js";
import {
  type LastReads,
  readSettled,
  rememberReads,
  type SettleOptions,
  UnsettledFileError,
  waitSettled,
} from "../../config/file/settled-file.js";
import type { UpstreamTlsConfig } from "../../config/file/upstream-tls-schema.js";

function unsettled(path: string, err: UnsettledFileError): ConfigResult {
  const e: ConfigError = {
    path,
    expected: `a file that holds still for the settle period`,
    found: `still changing after ${err.waitedMs} ms`,
    message: err.message,
  };
  return { ok: false, errors: [e] };
}

function waitLogger(logger: Logger, trigger: string, opts: SettleOptions) {
  return (paths: string[]) =>
    logger.info(
      { trigger, files: paths, settleMs: opts.settleMs, maxMs: opts.maxMs },
      `${paths.join(", ")} changed within the last ${opts.settleMs} ms; the reload waits for it to hold still`,
    );
}

/**
 * `load` run once `path` has held still (at once when it cannot be torn: settled-file.ts), and
 * again if it changed during the load. `last` holds the marks of the reloader's last reads.
 */
export async function loadSettled(
  path: string,
  opts: SettleOptions,
  last: LastReads,
  logger: Logger,
  trigger: string,
  load: () => Promise<ConfigResult>,
): Promise<ConfigResult> {
  try {
    const onWait = waitLogger(logger, trigger, opts);
    const { value, report } = await readSettled([path], load, opts, onWait, last);
    if (report.waitedFor.length > 0)
      logger.info(
        { trigger, files: report.waitedFor, waitedMs: report.waitedMs },
        "the reload's files held still; read them whole",
      );
    return value;
  } catch (err) {
    if (err instanceof UnsettledFileError) return unsettled("", err);
    throw err;
  }
}

/** The CA, certificate and key files the pools name. */
export function upstreamTlsPaths(pools: Record<string, { tls?: UpstreamTlsConfig }>): string[] {
  const out = new Set<string>();
  for (const p of Object.values(pools))
    for (const f of [p.tls?.ca, p.tls?.cert, p.tls?.key]) if (f !== undefined) out.add(f);
  return [...out];
}

/** `config` once its upstream TLS files hold still; an error naming them when they do not. */
export async function waitTlsFilesSettled(
  config: ShardgateConfig,
  opts: SettleOptions,
  last: LastReads,
  logger: Logger,
  trigger: string,
): Promise<ConfigResult> {
  const paths = upstreamTlsPaths(config.pools);
  const watch = { waitedFor: new Set<string>(), onWait: waitLogger(logger, trigger, opts) };
  try {
    rememberReads(last, await waitSettled(paths, opts, watch, performance.now(), last));
    return { ok: true, config };
  } catch (err) {
    if (err instanceof UnsettledFileError) {
      const pool = Object.entries(config.pools).find(([, p]) =>
        [p.tls?.ca, p.tls?.cert, p.tls?.key].some((f) => f !== undefined && err.paths.includes(f)),
      );
      return unsettled(`pools.${pool?.[0] ?? "?"}.tls`, err);
    }
    throw err;
  }
}

/** The listener's certificate files once they hold still: no error, or one naming listen.tls. */
export async function waitListenerFilesSettled(
  paths: string[],
  opts: SettleOptions,
  last: LastReads,
  logger: Logger,
  trigger: string,
): Promise<ConfigError[]> {
  const watch = { waitedFor: new Set<string>(), onWait: waitLogger(logger, trigger, opts) };
  try {
    rememberReads(last, await waitSettled(paths, opts, watch, performance.now(), last));
    return [];
  } catch (err) {
    if (err instanceof UnsettledFileError) {
      const r = unsettled("listen.tls", err);
      return r.ok ? [] : r.errors;
    }
    throw err;
  }
}
