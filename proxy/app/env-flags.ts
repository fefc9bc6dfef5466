// The SHARDGATE_* switches that are not free text, checked with the other settings by start
// and validate (as SHARDGATE_ENGINE is, engine-env.ts). cluster-settings.ts read
// SHARDGATE_FAULT_INJECTION as on for "1", "true" or "yes" and off for anything else, so
// `=on` or `=TRUE` left the debug endpoints off without a word; and SHARDGATE_BOOTSTRAP was
// only looked at with a `cluster:` section, so `=yes` (or `=join`) without one passed.

import { settleEnvError } from "../../config/file/settled-file.js";

const FLAG_ON = ["1", "true", "yes"];
const FLAG_OFF = ["0", "false", "no"];

export interface EnvFlagError {
  readonly variable: string;
  readonly message: string;
}

/** null when every checked variable is unset, empty or a documented value; else the first problem. */
export function envFlagsError(env: NodeJS.ProcessEnv, hasClusterSection: boolean): EnvFlagError | null {
  const fault = env.SHARDGATE_FAULT_INJECTION;
  if (fault !== undefined && fault !== "" && !FLAG_ON.includes(fault) && !FLAG_OFF.includes(fault)) {
    return {
      variable: "SHARDGATE_FAULT_INJECTION",
      message: `expected "1", "true" or "yes" (on), or "0", "false", "no" or unset (off), got ${JSON.stringify(fault)}`,
    };
  }
  const bootstrap = env.SHARDGATE_BOOTSTRAP;
  if (bootstrap !== undefined && bootstrap !== "") {
    if (bootstrap !== "new" && bootstrap !== "join")
      return {
        variable: "SHARDGATE_BOOTSTRAP",
        message: `expected "new" or "join", got ${JSON.stringify(bootstrap)}`,
      };
    if (bootstrap === "join" && !hasClusterSection)
      return {
        variable: "SHARDGATE_BOOTSTRAP",
        message:
          '"join" needs a cluster: section with peers to join; without one this instance is a cluster of its own (unset it, or add cluster:)',
      };
  }
  return settleEnvError(env);
}
