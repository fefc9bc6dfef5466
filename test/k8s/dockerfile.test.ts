// The Dockerfile, checked without a container engine: every path it copies from the build
// context exists and survives .dockerignore, the runtime stage copies exactly the dist/
// folders the entry point's import graph reaches (so `npm run build` output is what runs),
// every package the runtime imports is a production dependency (the runtime stage installs
// with --omit=dev), and the image runs non-root under an init that forwards SIGTERM, with a
// HEALTHCHECK on /healthz, a data volume and node --min-semi-space-size=16.

import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const REPO = HERE.includes("/dist/test/") ? resolve(HERE, "../../..") : resolve(HERE, "../..");
const DIST = join(REPO, "dist");

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Instructions with line continuations joined and comments dropped; `stage` counts FROMs. */
function parseDockerfile(text: string): {
  instructions: Instruction[];
  stages: { base: string; name?: string }[];
  args: Map<string, string>;
} {
  const lines = text.split("\n");
  const logical: string[] = [];
  let cur = "";
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (cur === "" && (line.trim() === "" || line.trim().startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(cur + line);
    cur = "";
  }
  const instructions: Instruction[] = [];
  const stages: { base: string; name?: string }[] = [];
  const args = new Map<string, string>();
  for (const l of logical) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (m === null) continue;
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    if (op === "ARG" && stages.length === 0) {
      const [k, v] = rest.split("=");
      args.set(k, v ?? "");
    }
    if (op === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      assert.ok(f !== null, `FROM line: ${rest}`);
      const base = f[1].replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? "");
      stages.push({ base, name: f[2] });
    }
    instructions.push({ op, args: rest, stage: stages.length - 1 });
  }
  return { instructions, stages, args };
}

/** .dockerignore as a predicate (the subset of its syntax used here: names, dir/**, **\/name). */
function ignoredBy(patterns: string[]): (path: string) => boolean {
  return (path) =>
    patterns.some((p) => {
      if (p.startsWith("**/")) return path.split("/").includes(p.slice(3));
      if (p.includes("*")) {
        const re = new RegExp(`^${p.replace(/\./g, "\\.").replace(/\*/g, "[^/]*")}$`);
        return re.test(path.split("/").pop() ?? "");
      }
      return path === p || path.startsWith(`${p}/`);
    });
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, "Dockerfile"), "utf8"));
const ignorePatterns = readFileSync(join(REPO, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));
const ignored = ignoredBy(ignorePatterns);
const finalStage = dockerfile.stages.length - 1;
const inStage = (s: number, op: string) =>
  dockerfile.instructions.filter((i) => i.stage === s && i.op === op);

function jsonArray(args: string): string[] {
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === "string"), `exec form (JSON array): ${args}`);
  return v as string[];
}

function copies(stage: number): { from?: string; srcs: string[]; dest: string }[] {
  return inStage(stage, "COPY").map((i) => {
    const parts = i.args.split(/\s+/);
    let from: string | undefined;
    while (parts[0]?.startsWith("--")) {
      const flag = parts.shift() as string;
      if (flag.startsWith("--from=")) from = flag.slice("--from=".length);
    }
    const dest = parts.pop() as string;
    return { from, srcs: parts, dest };
  });
}

test(".dockerignore keeps node_modules, dist and data out of the build context, and nothing the build needs", () => {
  for (const p of [
    "node_modules",
    "dist",
    "data",
    "node_modules/zod/index.js",
    "dist/proxy/cli.js",
    "data/raft/wal",
  ])
    assert.ok(ignored(p), `${p} is excluded`);
  for (let s = 0; s < dockerfile.stages.length; s++) {
    for (const c of copies(s)) {
      if (c.from !== undefined) continue;
      for (const src of c.srcs) {
        assert.ok(existsSync(join(REPO, src)), `COPY ${src}: exists in the repository`);
        assert.ok(!ignored(src), `COPY ${src}: not excluded by .dockerignore`);
      }
    }
  }
});

test("multi-stage: build with dev dependencies, run on slim Node with production dependencies only", () => {
  const stages = dockerfile.stages;
  assert.ok(stages.length >= 2, "multi-stage");
  assert.match(stages[finalStage].base, /^node:20[-.\w]*slim$/, "runtime on a slim Node 20 image");
  const build = stages.findIndex((s) => s.name === "build");
  assert.ok(build >= 0 && build !== finalStage, "a build stage");
  const buildRuns = inStage(build, "RUN").map((i) => i.args);
  assert.ok(
    buildRuns.some((r) => /npm ci(?!.*--omit=dev)/.test(r)),
    "build installs dev dependencies",
  );
  assert.ok(
    buildRuns.some((r) => r.includes("npm run build")),
    "build runs npm run build",
  );
  const depsCopy = copies(finalStage).find((c) => c.srcs.some((s) => s.endsWith("/node_modules")));
  assert.ok(depsCopy?.from !== undefined, "node_modules come from a stage");
  const depsStage = stages.findIndex((s) => s.name === depsCopy?.from);
  assert.ok(
    inStage(depsStage, "RUN").some((i) => /npm ci .*--omit=dev/.test(i.args)),
    "that stage installs production dependencies only",
  );
  assert.ok(
    copies(finalStage).some((c) => c.from === undefined && c.srcs.includes("package.json")),
    'package.json ("type": "module") sits beside dist/ in the image',
  );
});

/** Relative module specifiers and bare package names a compiled file refers to. */
function refsOf(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(file, "utf8");
  const local: string[] = [];
  const packages: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["']([^"']+)["']/g)) {
    const spec = m[1];
    if (spec.startsWith(".")) local.push(resolve(dirname(file), spec));
    else packages.push(spec);
  }
  // cli.js names its command modules in a table and imports them by variable.
  for (const m of text.matchAll(/["'](\.{1,2}\/[\w./-]+\.js)["']/g)) local.push(resolve(dirname(file), m[1]));
  return { local, packages };
}

test("the runtime copies exactly the dist/ folders the entry point reaches, all built by npm run build", () => {
  const entry = jsonArray(inStage(finalStage, "ENTRYPOINT")[0].args);
  const script = entry.find((a) => a.endsWith(".js"));
  assert.ok(script?.startsWith("/app/dist/"), `entry point runs a compiled file: ${entry.join(" ")}`);
  const builtEntry = join(DIST, (script as string).slice("/app/dist/".length));
  assert.ok(existsSync(builtEntry), `${builtEntry} is what npm run build produced`);

  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [builtEntry];
  while (queue.length > 0) {
    const f = queue.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    assert.ok(existsSync(f), `imported file ${f} exists in dist/`);
    const r = refsOf(f);
    for (const l of r.local) queue.push(l);
    for (const p of r.packages) packages.add(p);
  }
  const reached = new Set([...seen].map((f) => f.slice(DIST.length + 1).split("/")[0]));
  const copied = new Set(
    copies(finalStage)
      .filter((c) => c.from === "build")
      .flatMap((c) => c.srcs)
      .map((s) => {
        assert.ok(s.startsWith("/src/dist/"), `build output copied from /src/dist: ${s}`);
        const top = s.slice("/src/dist/".length);
        assert.ok(statSync(join(DIST, top)).isDirectory(), `dist/${top} exists after npm run build`);
        return top;
      }),
  );
  assert.deepEqual(
    [...copied].sort(),
    [...reached].sort(),
    "dist folders copied = dist folders the entry point imports",
  );
  for (const c of copies(finalStage).filter((x) => x.from === "build"))
    assert.equal(
      c.dest,
      `./dist/${c.srcs[0].slice("/src/dist/".length)}`,
      "copied to the path the entry point names",
    );

  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const builtins = new Set(builtinModules);
  for (const spec of packages) {
    if (spec.startsWith("node:") || builtins.has(spec)) continue;
    const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
    assert.ok(
      name in pkg.dependencies,
      `runtime import "${spec}" is a production dependency (the image omits dev ones)`,
    );
  }
});

test("non-root, tini as PID 1 forwarding SIGTERM, HEALTHCHECK on /healthz, data volume, config file, semi-space flag", () => {
  const user = inStage(finalStage, "USER").at(-1)?.args ?? "root";
  assert.ok(!/^(root|0)(:|$)/.test(user), `runs as a non-root user, got ${user}`);
  const entry = jsonArray(inStage(finalStage, "ENTRYPOINT")[0].args);
  assert.match(entry[0], /\/tini$/, "tini is PID 1");
  assert.equal(entry[1], "--");
  assert.equal(entry[2], "node");
  assert.ok(entry.includes("--min-semi-space-size=16"), "node --min-semi-space-size=16");
  assert.ok(
    inStage(finalStage, "RUN").some((i) => /apt-get install[^&]*\btini\b/.test(i.args)),
    "tini is installed in the runtime stage",
  );
  const hc = inStage(finalStage, "HEALTHCHECK")[0]?.args ?? "";
  assert.match(hc, /\/healthz/, "HEALTHCHECK asks /healthz");
  const volumes = inStage(finalStage, "VOLUME").flatMap((i) => jsonArray(i.args));
  assert.ok(volumes.includes("/var/lib/shardgate"), "the data directory is a volume");
  const k8sConfig = readFileSync(join(REPO, "k8s/base/shardgate.yaml"), "utf8");
  assert.match(k8sConfig, /dataDir: \/var\/lib\/shardgate/, "the manifests' dataDir is that volume");
  const cmd = jsonArray(inStage(finalStage, "CMD")[0].args);
  assert.deepEqual(cmd, ["start", "--config", "/etc/shardgate/shardgate.yaml"], "config from a mounted file");
});
