#!/usr/bin/env node
// The `shardgate` command line. Each subcommand lives in its own module under
// proxy/commands/ and is loaded on demand, so `shardgate ring simulate` never pays
// for loading the proxy, and one command's dependencies cannot break another.

import { printableLine } from "../config/printable.js";
import { holdSignals } from "./app/early-signals.js";
import { descriptorShortage } from "./app/load-failure.js";
import { guardStdStreams } from "./app/std-streams.js";
import { quietStraySignals } from "./app/stray-signals.js";

interface CommandModule {
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, { module: string; summary: string }> = {
  start: { module: "./commands/start.js", summary: "run the proxy: start --config FILE" },
  validate: { module: "./commands/validate.js", summary: "check a config file: validate --config FILE" },
  demo: { module: "./commands/demo.js", summary: "run a local demo with built-in echo upstreams" },
  ring: { module: "./commands/ring.js", summary: "ring tools: ring simulate --members N --keys N ..." },
  ctl: { module: "./commands/ctl.js", summary: "talk to a running instance's admin API" },
};

function usage(): string {
  const lines = ["usage: shardgate <command> [options]", "", "commands:"];
  for (const [name, { summary }] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${summary}`);
  lines.push(`  ${"version".padEnd(10)} print the version (also --version)`);
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  // What an operator asks first before an upgrade (and what a bug report needs); the same
  // version as the shardgate_build_info gauge.
  if (name === "--version" || name === "version") {
    // Every other command refuses what it does not know; `version --json` printing the plain
    // line with exit 0 would let a script take it for an answer in the asked-for shape. Help
    // is the one thing every command knows, so `version --help` answers it as they do.
    if (rest.length === 1 && (rest[0] === "--help" || rest[0] === "-h")) {
      console.log(
        "usage: shardgate version (or shardgate --version)\n\nprints shardgate's version and Node's",
      );
      return 0;
    }
    if (rest.length > 0) {
      console.error(`shardgate version: unexpected argument "${printableLine(rest[0])}"\n\n${usage()}`);
      return 2;
    }
    const { SHARDGATE_VERSION } = await import("./metrics/version.js");
    console.log(`shardgate ${SHARDGATE_VERSION} (node ${process.versions.node})`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    console.error(`shardgate: unknown command "${printableLine(name)}"\n\n${usage()}`);
    return 2;
  }
  // Before the (slow) import of the proxy: a signal during start must not kill it (early-signals.ts).
  if (name === "start") {
    holdSignals();
    quietStraySignals();
    guardStdStreams();
  }
  let mod: CommandModule;
  try {
    mod = (await import(entry.module)) as CommandModule;
  } catch (err) {
    const shortage = await descriptorShortage(err);
    if (shortage === null) throw err;
    console.error(`shardgate: ${shortage}`);
    return 1;
  }
  return mod.run(rest);
}

/**
 * `ctl` ends once its answer is printed: the admin API connection fetch keeps alive would
 * otherwise hold the process for as long as the server's Keep-Alive hint allows (up to
 * minutes), and every scripted call would wait for it.
 */
function exitWhenFlushed(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (process.argv[2] === "ctl") exitWhenFlushed(code);
  },
  (err: unknown) => {
    console.error(`shardgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
