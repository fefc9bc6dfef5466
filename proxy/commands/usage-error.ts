// A command line the CLI cannot act on (unknown flag, missing argument, value out of range):
// the one error the `shardgate` sub-commands exit 2 for, after printing their usage text.

import { CodedError } from "../../config/coded-error.js";

export class UsageError extends CodedError<"usage"> {
  constructor(message: string) {
    super("usage", message);
  }
}
