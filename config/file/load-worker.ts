// Worker-thread entry of loadConfigFileOffThread: a long-lived loop that reads, parses and
// validates one config file per request and posts the ConfigResult (plain data) back. A file
// that differs from the last accepted one in a few member lines is loaded from that one
// (incremental-load.ts); a valid config goes back as a delta of its member lists against the
// last valid one this worker answered (members-delta.ts), when there is one.

import { dirname, resolve } from "node:path";
import { parentPort } from "node:worker_threads";
import { type AcceptedLoad, acceptedLoad, incrementalLoad } from "./incremental-load.js";
import type { ConfigResult } from "./load.js";
import { type MembersDelta, membersDelta } from "./members-delta.js";
import { readConfigText } from "./read-text.js";
import type { ShardgateConfig } from "./schema.js";

export interface LoadRequest {
  readonly id: number;
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
}

/**
 * A file's text and the config it loads to, given to a new worker before its first load (as
 * request 0): the base of its first incremental load and member delta.
 */
export interface SeedRequest {
  readonly seed: {
    readonly path: string;
    readonly env: NodeJS.ProcessEnv;
    readonly text: string;
    readonly config: ShardgateConfig;
  };
}

/** Asked of a worker about to close: the text of its last valid load, to seed the next worker. */
export interface HandoverRequest {
  readonly handover: true;
}

export type LoadResponse =
  | { readonly id: number; readonly result: ConfigResult }
  /** `delta` is against the config answered to request `base` (0: the seed). */
  | { readonly id: number; readonly base: number; readonly delta: MembersDelta }
  /**
   * The answer to a HandoverRequest: the text the config answered to request `id` was loaded
   * from (null: none). The text crosses to the main thread once per worker, not per reload
   * (a 5,000-member file's text was a 350 KiB string per reload there, kept until the next).
   */
  | { readonly handover: { readonly id: number; readonly text: string } | null };

/**
 * The full load (the positioned YAML parser and everything behind it), imported on first use:
 * a worker started for a reload that the incremental load takes never loads those modules.
 */
const fullLoad = () => import("./load.js");

/** The last valid config this worker answered, and the request it answered. */
let last: { id: number; config: ShardgateConfig } | null = null;
/** The last valid load's text and config, for the next incremental load. */
let accepted: AcceptedLoad | null = null;
/** The text `last` was loaded from (handed over when the worker closes). */
let lastText: string | null = null;

async function load(path: string, env: NodeJS.ProcessEnv): Promise<{ result: ConfigResult; text: string }> {
  let text: string;
  try {
    text = await readConfigText(path);
  } catch {
    return { result: await (await fullLoad()).loadConfigFile(path, env), text: "" }; // says why it cannot be read
  }
  let quick: ShardgateConfig | null = null;
  try {
    quick = accepted === null ? null : incrementalLoad(accepted, path, env, text);
  } catch {
    quick = null; // a bug there must not cost the reload: the full way decides
  }
  const result: ConfigResult =
    quick !== null
      ? { ok: true, config: quick }
      : (await fullLoad()).parseConfig(text, env, path, { baseDir: dirname(resolve(path)) });
  if (result.ok) accepted = acceptedLoad(path, env, text, result.config);
  return { result, text };
}

parentPort?.on("message", async (req: LoadRequest | SeedRequest | HandoverRequest) => {
  if ("seed" in req) {
    const { path, env, text, config } = req.seed;
    accepted = acceptedLoad(path, env, text, config);
    last = { id: 0, config };
    lastText = text;
    return;
  }
  if ("handover" in req) {
    const handover = last !== null && lastText !== null ? { id: last.id, text: lastText } : null;
    parentPort?.postMessage({ handover } satisfies LoadResponse);
    return;
  }
  const { result, text } = await load(req.path, req.env);
  if (!result.ok) {
    parentPort?.postMessage({ id: req.id, result } satisfies LoadResponse);
    return;
  }
  const delta = last === null ? null : membersDelta(last.config, result.config);
  const res: LoadResponse =
    delta === null || last === null ? { id: req.id, result } : { id: req.id, base: last.id, delta };
  last = { id: req.id, config: result.config };
  lastText = text;
  parentPort?.postMessage(res);
});
