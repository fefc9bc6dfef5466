// Flag parsing shared by the commands that run an app (start, demo): strict flags, no
// positionals, -h/--help prints the usage (exit 0), and a bad flag prints what is wrong and
// the usage (exit 2) instead of a stack trace.

import { type ParseArgsConfig, parseArgs } from "node:util";
import { errorText } from "../../config/coded-error.js";
import { printableLine } from "../../config/printable.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type WithHelp<O extends Options> = O & { help: { type: "boolean"; short: "h" } };
type Values<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: WithHelp<O>; strict: true; allowPositionals: false }>
>["values"];

export type FlagsResult<O extends Options> =
  | { ok: true; values: Values<O> }
  | { ok: false; exitCode: number };

/**
 * node:util parseArgs' refusal as one line. Its message for a value that starts with "-"
 * (`--drain-timeout -5s`, `--keys -1`) runs over three lines, which the one-line error print
 * showed as "\x0a" escapes.
 */
export function flagErrorText(err: unknown): string {
  return errorText(err).replace(/\s*\n\s*/g, " ");
}

/** Parses `argv` for `shardgate <command>`; on help or an error it has already printed. */
export function parseCommandFlags<O extends Options>(
  command: string,
  usage: string,
  argv: string[],
  options: O,
): FlagsResult<O> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } } as WithHelp<O>,
      strict: true,
      allowPositionals: false,
    });
    if ((values as { help?: boolean }).help === true) {
      console.log(usage);
      return { ok: false, exitCode: 0 };
    }
    return { ok: true, values };
  } catch (err) {
    console.error(`shardgate ${command}: ${printableLine(flagErrorText(err))}\n${usage}`);
    return { ok: false, exitCode: 2 };
  }
}
