// Module loader hooks (run on the loader's own thread, registered by loaded-modules.ts) that
// append every URL loaded through the ESM loader to the file named by SHARDGATE_LOADED_MODULES:
// our files, and every package's entry that our ESM code imports (a CommonJS package's own
// require() calls below its entry are not seen, which is enough to tell whether it was loaded).

import { appendFileSync } from "node:fs";

const out = process.env.SHARDGATE_LOADED_MODULES;

type Next = (url: string, context: object) => Promise<unknown>;

export async function load(url: string, context: object, next: Next): Promise<unknown> {
  if (out !== undefined && out !== "") appendFileSync(out, `${url}\n`);
  return next(url, context);
}
