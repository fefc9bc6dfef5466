// Worker-thread entry of loadConfigFileOffThread: a long-lived loop that reads, parses and
// validates one config file per request and posts the ConfigResult (plain data) back. A valid
// config goes back as a delta of its member lists against the last valid one this worker
// answered (members-delta.ts), when there is one.

import { parentPort } from "node:worker_threads";
import { type ConfigResult, loadConfigFile } from "./load.js";
import { type MembersDelta, membersDelta } from "./members-delta.js";
import type { ShardgateConfig } from "./schema.js";

export interface LoadRequest {
  readonly id: number;
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
}

export type LoadResponse =
  | { readonly id: number; readonly result: ConfigResult }
  /** `delta` is against the config answered to request `base`. */
  | { readonly id: number; readonly base: number; readonly delta: MembersDelta };

/** The last valid config this worker answered, and the request it answered. */
let last: { id: number; config: ShardgateConfig } | null = null;

parentPort?.on("message", async (req: LoadRequest) => {
  const result = await loadConfigFile(req.path, req.env);
  if (!result.ok) {
    parentPort?.postMessage({ id: req.id, result } satisfies LoadResponse);
    return;
  }
  const delta = last === null ? null : membersDelta(last.config, result.config);
  const res: LoadResponse =
    delta === null || last === null ? { id: req.id, result } : { id: req.id, base: last.id, delta };
  last = { id: req.id, config: result.config };
  parentPort?.postMessage(res);
});
