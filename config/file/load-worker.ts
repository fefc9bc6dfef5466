// Worker-thread entry of loadConfigFileOffThread: a long-lived loop that reads, parses and
// validates one config file per request and posts the ConfigResult (plain data) back.

import { parentPort } from "node:worker_threads";
import { type ConfigResult, loadConfigFile } from "./load.js";

export interface LoadRequest {
  readonly id: number;
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface LoadResponse {
  readonly id: number;
  readonly result: ConfigResult;
}

parentPort?.on("message", async (req: LoadRequest) => {
  const result = await loadConfigFile(req.path, req.env);
  const res: LoadResponse = { id: req.id, result };
  parentPort?.postMessage(res);
});
