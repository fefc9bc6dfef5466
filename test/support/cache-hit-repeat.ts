// Repeats a GET until the proxy answers it from its cache (x-cache: HIT): the first answer stores
// the entry in the background, so a HIT comes some requests later. Bounded: 40 requests, 60 s.

import assert from "node:assert/strict";
import { eventually } from "./wait.js";

/** Each answer must be a 200 carrying `bodyLength` bytes; returns the x-cache of each, in order. */
export async function repeatUntilHit(url: string, bodyLength: number, what: string): Promise<string[]> {
  const seen: string[] = [];
  await eventually(
    what,
    async () => {
      if (seen.length >= 40) assert.fail(`40 requests, no HIT: ${seen.join(" ")}`);
      const res = await fetch(url);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.equal(body.length, bodyLength);
      const cache = res.headers.get("x-cache") ?? "";
      seen.push(cache);
      return cache === "HIT" ? true : undefined;
    },
    60_000,
  );
  return seen;
}
