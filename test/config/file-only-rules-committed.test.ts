// This round's file-only refusals (a cookie ttl under 1s; pointsPerWeight on a maglev pool or
// tableSize on a ring one) must never refuse routing a fleet already committed: an older build
// took those files, and a follower applying the entry, a restart replaying the log or an
// instance installing a snapshot (all of them parseRouting) must apply what the fleet applied.
// Committed routing holds both pointsPerWeight and tableSize on every pool (the schema fills in
// each default), so the option rule there would refuse every routing ever committed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRouting } from "../../config/file/load.js";
import { validateCommand } from "../../config/state/commands.js";

const routing = {
  pools: {
    m: {
      algorithm: "maglev",
      pointsPerWeight: 100,
      tableSize: 101,
      members: [{ id: "m1", address: "127.0.0.1:9" }],
    },
    r: {
      algorithm: "ring",
      pointsPerWeight: 160,
      tableSize: 65537,
      members: [{ id: "r1", address: "127.0.0.1:9" }],
    },
  },
  routes: [
    {
      match: { pathPrefix: "/m" },
      pool: "m",
      key: ["cookie:sg_key"],
      onMissingKey: "cookie",
      cookie: { ttl: 0 },
    },
    { pool: "r", key: ["ip"], affinity: { cookie: { ttl: "500ms" } } },
  ],
};

test("committed routing with a sub-second cookie ttl or both table options is still valid", () => {
  const parsed = parseRouting(routing);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  // Its normalized form, as a snapshot or a later entry carries it, passes again.
  assert.ok(parseRouting(parsed.routing).ok);
  const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, type: "SetRouting", routing }));
  const r = validateCommand(bytes);
  assert.ok(r.ok, JSON.stringify(r));
});
