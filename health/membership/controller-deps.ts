// Moved to health/controller/deps.ts (it serves all three leader-side controllers); this
// re-export keeps proxy/cluster/cluster-node.ts compiling until it imports the new path.
export type { HealthLogger } from "../controller/deps.js";
