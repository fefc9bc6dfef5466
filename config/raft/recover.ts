// Disaster recovery when a majority of voters lost their disks (etcd's --force-new-cluster):
// rewrites a STOPPED survivor's data directory so that it is the only voter of the cluster,
// keeping its whole log and state. It appends, in a new term, one membership change per other
// voter (removeNode; addVoter for itself first if it was a learner) and marks everything in its
// log committed, so its next start elects itself at once. Entries it held that the old cluster
// had not committed become committed: that is the price of recovering without a quorum. The
// other members must come back with EMPTY data directories; they then join as new
// incarnations (learners) and are promoted back once caught up.
import { applyConfChange, confStateAfter, encodeConfChange, incarnationIn } from "./core/index.js";
import { loadIdentity, saveIdentity } from "./driver/identity.js";
import { FileStorage } from "./storage/index.js";
import type { ConfChange, Entry, NodeId } from "./types.js";

export interface ForceNewClusterResult {
  /** Voters removed from the configuration. */
  removed: NodeId[];
  term: number;
  lastIndex: number;
}

export async function forceNewCluster(
  dataDir: string,
  self: NodeId,
  opts: { fsync?: boolean } = {},
): Promise<ForceNewClusterResult> {
  const durable = opts.fsync ?? true;
  const storage = await FileStorage.open(dataDir, { fsync: durable });
  try {
    if (storage.lastIndex() === 0 && storage.snapshot().meta.index === 0)
      throw new Error(`${dataDir} holds no Raft state: nothing to recover from`);
    let conf = confStateAfter(
      storage.snapshot().meta.conf,
      storage.entries(storage.firstIndex(), storage.lastIndex() + 1),
    );
    const term = storage.hardState().term + 1;
    let index = storage.lastIndex();
    const ents: Entry[] = [];
    const change = (cc: ConfChange) => {
      ents.push({ index: ++index, term, type: "conf", data: encodeConfChange(cc) });
      conf = applyConfChange(conf, cc);
    };
    // The operator vouches for this disk: it takes the incarnation its configuration names for
    // it (so it may vote), or, not being a member, joins the configuration under its own.
    const id = loadIdentity(dataDir, true, durable);
    const member = conf.voters.includes(self) || conf.learners.includes(self);
    const named = member ? incarnationIn(conf, self) : id.founder ? "" : id.incarnation;
    const adopted = named === "" ? { ...id, founder: true } : { ...id, incarnation: named, founder: false };
    if (!conf.voters.includes(self)) change({ type: "addVoter", node: self, incarnation: named });
    const removed = conf.voters.filter((v) => v !== self);
    for (const v of removed) change({ type: "removeNode", node: v });
    storage.append(ents);
    storage.setHardState({ term, vote: self, commit: index });
    await storage.sync();
    // The survivor is the cluster now: it votes (whatever its identity said before).
    saveIdentity(dataDir, { ...adopted, admitted: true }, durable);
    return { removed, term, lastIndex: index };
  } finally {
    await storage.close();
  }
}
