// The README's YAML blocks and the variables its own commands export before they start anything
// (fleet.yaml, Kubernetes, Consul): what a newcomer pastes into a file and runs with.

import { readFileSync } from "node:fs";

export const README_ENV: Readonly<Record<string, string>> = {
  SHARDGATE_ADMIN_TOKEN: "dev-token-0123456789",
  SHARDGATE_CLUSTER_SECRET: "0123456789abcdef0123456789abcdef",
  HTTP_PORT: "8081",
  ADMIN_PORT: "9901",
  HOSTNAME: "shardgate-0",
  POD_IP: "10.0.0.7",
  CONSUL_HTTP_TOKEN: "a-consul-token",
};

/** Every ```yaml block of README.md, with the line its text starts on. */
export function readmeYamlBlocks(): Array<{ line: number; text: string }> {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => ({
    line: readme.slice(0, m.index).split("\n").length + 1,
    text: m[1],
  }));
}
