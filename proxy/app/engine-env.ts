// SHARDGATE_ENGINE, read by the data plane (proxy/forward/data-plane.ts) as "http-proxy or
// else undici": a misspelt value ("http_proxy", "httpproxy") ran undici without a word, so an
// operator who meant to move a process to http-proxy-3 believed it had moved. start and
// validate check the value with the other settings and refuse anything but the two names.

const ENGINES = ["undici", "http-proxy"] as const;

/** null when SHARDGATE_ENGINE is unset, empty or one of the engines; else the error message. */
export function engineEnvError(env: NodeJS.ProcessEnv): string | null {
  const v = env.SHARDGATE_ENGINE;
  if (v === undefined || v === "" || (ENGINES as readonly string[]).includes(v)) return null;
  return `expected "undici" or "http-proxy" (or unset: undici), got ${JSON.stringify(v)}`;
}
