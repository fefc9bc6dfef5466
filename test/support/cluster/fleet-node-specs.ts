// The listen ports and data directory of each instance of a test fleet: three free loopback
// ports an instance (HTTP, admin, Raft), taken at once so no two instances share one.

import { join } from "node:path";
import { freePorts } from "../ports.js";
import type { FleetNodeSpec } from "./fleet-config.js";

/** One spec per id, its data directory `dataDir(id)` (default: `<dir>/<id>`). */
export async function fleetNodeSpecs(
  ids: readonly string[],
  dir: string,
  dataDir: (id: string) => string = (id) => join(dir, id),
): Promise<FleetNodeSpec[]> {
  const ports = await freePorts(ids.length * 3);
  return ids.map((id, i) => ({
    id,
    httpPort: ports[i * 3],
    adminPort: ports[i * 3 + 1],
    raftPort: ports[i * 3 + 2],
    dataDir: dataDir(id),
  }));
}
