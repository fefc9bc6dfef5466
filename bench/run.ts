// Benchmark entry point: `npm run bench -- <name> [options]`. Each benchmark is a module
// in bench/ exporting run(argv) and printing a table that compares shardgate with a named
// peer measured in the same run.

const BENCHES: Record<string, string> = {
  ring: "./ring-bench.js",
  proxy: "./proxy-bench.js",
  "proxy-micro": "./proxy-micro.js",
  raft: "./raft-bench.js",
  fleet: "./fleet-bench.js",
  dashboard: "./dashboard-bench.js",
  "observer-micro": "./observer-micro.js",
  "access-line": "./access-line-micro.js",
  "route-choice": "./route-choice-micro.js",
  "ring-pressure": "./ring-pressure-micro.js",
  "engine-profile": "./engine-profile.js",
  "engine-micro": "./engine-micro.js",
  "cache-view": "./cache-view-micro.js",
  "head-micro": "./head-micro.js",
  "host-key": "./host-key-micro.js",
  "trust-check": "./trust-check-micro.js",
  complexity: "./complexity-micro.js",
  "scale-profile": "./scale-profile.js",
  "scale-periodic": "./scale-periodic-micro.js",
  "scale-held-ring": "./scale-held-ring-micro.js",
  "scale-slot": "./scale-slot-micro.js",
  scale: "./scale-bench.js",
  workers: "./workers-bench.js",
  h2: "./h2-bench.js",
  "consul-idle": "./consul-idle/bench.js",
  "kube-client-load": "./kube-client-load.js",
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const module = name === undefined ? undefined : BENCHES[name];
  if (module === undefined) {
    console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join("|")}> [options]`);
    return 2;
  }
  const mod = (await import(module)) as { run(argv: string[]): Promise<number> };
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
