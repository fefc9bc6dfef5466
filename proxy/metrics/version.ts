// shardgate's version for the build-info gauge, read once from the package.json shipped next
// to dist/ (or the source tree); "unknown" if it cannot be read.

import { readFileSync } from "node:fs";

function readVersion(): string {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "shardgate" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // try the next location
    }
  }
  return "unknown";
}

export const SHARDGATE_VERSION = readVersion();
