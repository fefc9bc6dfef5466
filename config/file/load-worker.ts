// Worker-thread entry of loadConfigFileOffThread: reads, parses and validates one config file
// and posts the ConfigResult (plain data) back.

import { parentPort, workerData } from "node:worker_threads";
import { loadConfigFile } from "./load.js";

const { path, env } = workerData as { path: string; env: NodeJS.ProcessEnv };
parentPort?.postMessage(await loadConfigFile(path, env));
