// Snapshotting: every `snapshotEvery` applied entries the driver saves the state machine (with
// the address book, driver/envelope.ts) at the applied index and compacts the log, keeping
// `compactMargin` entries so a slightly lagging follower catches up from the log instead.
import type { RaftNode } from "../core/index.js";
import type { FileStorage } from "../storage/index.js";
import type { NodeId, Snapshot } from "../types.js";
import { wrapSnapshot } from "./envelope.js";
import type { StateMachine } from "./options.js";

/** Saves a snapshot at `index` (the applied index) and compacts the log behind it. */
export async function takeSnapshot(
  storage: FileStorage,
  node: RaftNode,
  sm: StateMachine,
  addresses: Readonly<Record<NodeId, string>>,
  index: number,
  compactMargin: number,
  incarnations: Readonly<Record<NodeId, string>> = {},
  marginBytes = Number.POSITIVE_INFINITY,
  clusterLevel = 0,
  clusterId = "",
): Promise<void> {
  const snap: Snapshot = {
    meta: { index, term: storage.term(index), conf: node.confStateAt(index), retired: node.retiredAt(index) },
    data: wrapSnapshot(addresses, sm.snapshot(), incarnations, clusterLevel, clusterId),
  };
  await storage.saveSnapshot(snap);
  // Keep up to compactMargin entries, but no more than marginBytes of them.
  let upTo = index - compactMargin;
  let kept = 0;
  for (let i = index; i > Math.max(upTo, storage.firstIndex() - 1); i--) {
    kept += storage.entries(i, i + 1)[0]?.data.length ?? 0;
    if (kept > marginBytes) {
      upTo = i;
      break;
    }
  }
  if (upTo >= storage.firstIndex()) await storage.compact(upTo);
}
