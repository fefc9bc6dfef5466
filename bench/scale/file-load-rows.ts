// The file-load share of a reload, in process: a config file of N members, one member added or
// removed, loaded incrementally from the previous load (config/file/incremental-load.ts) and,
// as its peer, the full way (parseConfig: js-yaml, schema, cross-checks), for a file of
// one-line flow members and one of three-line block members. CPU time, which a loaded machine
// blurs less than wall time.

import { cpuUsage } from "node:process";
import { acceptedLoad, incrementalLoad } from "../../config/file/incremental-load.js";
import { parseConfig } from "../../config/file/load.js";
import { median } from "./processes.js";

export interface FileLoadFigure {
  readonly members: number;
  readonly style: "flow" | "block";
  /** Median CPU ms of the incremental load of the edited file. */
  readonly incrementalMs: number;
  /** Median CPU ms of the full load of the same file. */
  readonly fullMs: number;
}

const PATH = "/tmp/shardgate-bench-file-load.yaml";

function fileText(members: number, style: "flow" | "block"): string {
  const lines: string[] = [];
  for (let i = 0; i < members; i++) {
    const address = `127.0.0.1:${20_000 + (i % 4)}`;
    lines.push(
      style === "block"
        ? `      - id: m${i}\n        address: "${address}"\n        weight: ${1 + (i % 3)}`
        : `      - { id: m${i}, address: "${address}" }`,
    );
  }
  return (
    `admin:\n  token: t-0123456789abcdef\npools:\n  scale:\n    algorithm: ring\n    members:\n${lines.join("\n")}\n` +
    "routes:\n  - match: { pathPrefix: / }\n    pool: scale\n    key: [ip]\n"
  );
}

function cpuMs(f: () => unknown): number {
  const c0 = cpuUsage();
  f();
  const c = cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

export function measureFileLoad(sizes: readonly number[], repeats: number): FileLoadFigure[] {
  const out: FileLoadFigure[] = [];
  for (const style of ["flow", "block"] as const) {
    for (const members of sizes) {
      const texts = [fileText(members, style), fileText(members + 1, style)];
      const first = parseConfig(texts[0], {}, PATH, { baseDir: "/tmp" });
      if (!first.ok) throw new Error(`bench file invalid: ${JSON.stringify(first.errors)}`);
      let accepted = acceptedLoad(PATH, {}, texts[0], first.config);
      const inc: number[] = [];
      const full: number[] = [];
      // Add, then remove, the member: each load is from the previous one, as reloads go.
      for (let r = 0; r < Math.max(10, 2 * repeats); r++) {
        const text = texts[(r + 1) % 2];
        let config = null;
        inc.push(
          cpuMs(() => {
            config = incrementalLoad(accepted, PATH, {}, text);
          }),
        );
        if (config === null) throw new Error(`the incremental load declined a ${style}-style member edit`);
        full.push(cpuMs(() => parseConfig(text, {}, PATH, { baseDir: "/tmp" })));
        accepted = acceptedLoad(PATH, {}, text, config);
      }
      out.push({ members, style, incrementalMs: median(inc), fullMs: median(full) });
    }
  }
  return out;
}
