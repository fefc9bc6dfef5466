// Records a client history against the replicated KV store in the simulation: clients issue
// put/append through propose (retrying with the same (client, seq), deduplicated by the state
// machine) and get through ReadIndex, under the random faults of the simulation, and every
// completed call/return is logged for the linearizability checker.
import { Prng } from "../../../config/raft/core/index.js";
import type { ConfChange } from "../../../config/raft/types.js";
import { SimCluster } from "../sim/cluster.js";
import { decodeCommand, encodeCommand } from "../sim/kv.js";
import { UNRELIABLE } from "../sim/network.js";
import type { KvInput, KvOperation } from "./kv-model.js";

export interface KvRunOptions {
  readonly seed: number;
  readonly clients?: number;
  readonly ticks?: number;
  /** Negative control: serve gets from the chosen node's local state machine, skipping ReadIndex. */
  readonly unsafeLocalReads?: boolean;
  /** Without check-quorum a partitioned leader keeps believing it leads: ReadIndex must still be safe. */
  readonly checkQuorum?: boolean;
  /** Also demote/promote/remove/re-add members and transfer leadership during the faults. */
  readonly membership?: boolean;
}

export interface KvRun {
  readonly ops: KvOperation[];
  readonly completed: number;
  readonly violations: readonly string[];
  readonly confChanges: number;
  readonly transfers: number;
}

interface Pending {
  readonly client: number;
  readonly seq: number;
  readonly input: KvInput;
  /** Call time of the first attempt (writes) or of the current attempt (reads). */
  call: number;
  node: string;
  incarnation: number;
  deadline: number;
  ctx: string;
  readIndex: number;
}

const IDS = ["n1", "n2", "n3", "n4", "n5"];
const KEYS = ["x", "y", "z"];
const ATTEMPT_TICKS = 25;

export function runKvHistory(opts: KvRunOptions): KvRun {
  const rng = new Prng(opts.seed ^ 0x1234567);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const sim = new SimCluster({
    ids: IDS,
    voters: IDS,
    seed: opts.seed,
    net: { ...UNRELIABLE, longReorder: 0.02, longDelay: 100 },
    compactEvery: pick([0, 10]),
    slowFsync: 0.1,
    raft: { checkQuorum: opts.checkQuorum ?? true },
  });
  const ops: KvOperation[] = [];
  const nClients = opts.clients ?? 4;
  const pending = new Map<number, Pending>();
  let nextSeq = 0;
  let transfers = 0;

  const complete = (p: Pending, value: string): void => {
    pending.delete(p.client);
    ops.push({ client: p.client, input: p.input, output: { value }, call: p.call, ret: sim.now });
  };

  sim.onApply = (id, e) => {
    if (e.type !== "normal" || e.data.length === 0 || e.data[0] !== 0x7b) return;
    const c = decodeCommand(e.data);
    const p = pending.get(c.client);
    if (p && p.seq === c.seq && p.node === id && p.input.op !== "get") complete(p, "");
  };
  sim.onRead = (id, rs) => {
    const ctx = new TextDecoder().decode(rs.ctx);
    for (const p of pending.values()) if (p.node === id && p.ctx === ctx) p.readIndex = rs.index;
  };
  const serveReads = (id: string): void => {
    const n = sim.node(id);
    for (const p of [...pending.values()]) {
      if (p.node === id && p.readIndex > 0 && n.applied >= p.readIndex && p.incarnation === n.incarnation) {
        complete(p, n.sm.get(p.input.key));
      }
    }
  };
  sim.onAdvance = serveReads;

  const attempt = (p: Pending): void => {
    const candidates = IDS.filter((id) => sim.isUp(id));
    if (candidates.length === 0) return;
    const l = sim.leader();
    p.node = l && rng.next() < 0.5 ? l : pick(candidates);
    const n = sim.node(p.node);
    p.incarnation = n.incarnation;
    p.deadline = sim.now + ATTEMPT_TICKS * 10;
    p.readIndex = 0;
    try {
      if (p.input.op === "get") {
        p.call = sim.now;
        p.ctx = `${p.client}:${p.seq}:${sim.now}`;
        if (opts.unsafeLocalReads) {
          complete(p, n.sm.get(p.input.key));
          return;
        }
        n.raft!.readIndex(new TextEncoder().encode(p.ctx));
      } else {
        n.raft!.propose(
          encodeCommand({
            client: p.client,
            seq: p.seq,
            op: p.input.op,
            key: p.input.key,
            value: p.input.value,
          }),
        );
      }
    } catch {
      // Dropped (no leader known etc.): retry after the attempt deadline.
    }
    sim.afterInput(n);
  };

  const ticks = opts.ticks ?? 300;
  for (let t = 0; t < ticks + 150; t++) {
    const faulty = t < ticks;
    if (faulty) {
      const r = rng.next();
      if (r < 0.03) {
        const up = IDS.filter((id) => sim.isUp(id));
        if (up.length > 3) sim.crash(pick(up));
      } else if (r < 0.1) {
        const down = IDS.filter((id) => !sim.isUp(id));
        if (down.length > 0) sim.restart(pick(down));
      } else if (r < 0.13) {
        const shuffled = [...IDS].sort(() => rng.next() - 0.5);
        const cut = 1 + rng.int(4);
        sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      } else if (r < 0.15) {
        sim.heal();
      } else if (opts.membership && r < 0.19) {
        if (changeMembership(sim, pick, r < 0.17)) transfers++;
      }
    } else if (t === ticks) {
      sim.heal();
      sim.net.opts = { ...sim.net.opts, drop: 0, duplicate: 0, longReorder: 0 };
      for (const id of IDS) if (!sim.isUp(id)) sim.restart(id);
    }
    for (let c = 0; c < nClients; c++) {
      const p = pending.get(c);
      if (!p) {
        if (!faulty || rng.next() < 0.5) continue;
        const op = pick(["put", "append", "append", "get", "get"] as const);
        const seq = nextSeq++;
        const np: Pending = {
          client: c,
          seq,
          input: { op, key: pick(KEYS), value: op === "get" ? "" : `${c}.${seq};` },
          call: sim.now,
          node: "",
          incarnation: 0,
          deadline: 0,
          ctx: "",
          readIndex: 0,
        };
        pending.set(c, np);
        attempt(np);
      } else if (
        sim.now >= p.deadline ||
        !sim.isUp(p.node) ||
        sim.node(p.node).incarnation !== p.incarnation
      ) {
        attempt(p);
      }
    }
    sim.runTicks(1);
    for (const id of IDS) if (sim.isUp(id)) serveReads(id);
    if (!sim.check.ok) break;
  }
  // Writes that never returned may or may not have happened: keep them open-ended.
  for (const p of pending.values()) {
    if (p.input.op !== "get")
      ops.push({ client: p.client, input: p.input, output: { value: "" }, call: p.call, ret: Infinity });
  }
  return {
    ops,
    completed: ops.filter((o) => o.ret !== Infinity).length,
    violations: sim.check.violations,
    confChanges: sim.stats.confChanges,
    transfers,
  };
}

/**
 * At the leader: hands leadership to a random other voter (`transfer`), or makes one random
 * membership change that keeps at least three voters (demote a voter to learner, promote or
 * remove a learner, re-add a removed node as a learner). Returns true when a transfer started.
 */
function changeMembership(sim: SimCluster, pick: <T>(xs: readonly T[]) => T, transfer: boolean): boolean {
  const l = sim.leader();
  if (!l) return false;
  const raft = sim.node(l).raft!;
  const conf = raft.status().conf;
  try {
    if (transfer) {
      const to = pick(conf.voters.filter((v) => v !== l));
      if (to === undefined) return false;
      raft.transferLeadership(to);
      sim.trace(`transfer ${l} -> ${to}`);
      sim.afterInput(sim.node(l));
      return true;
    }
    const options: ConfChange[] = [];
    for (const id of IDS) {
      if (conf.learners.includes(id))
        options.push({ type: "addVoter", node: id }, { type: "removeNode", node: id });
      else if (!conf.voters.includes(id)) options.push({ type: "addLearner", node: id });
      else if (conf.voters.length > 3 && id !== l) options.push({ type: "addLearner", node: id });
    }
    if (options.length === 0) return false;
    const cc = pick(options);
    raft.proposeConfChange(cc);
    sim.trace(`conf change ${cc.type} ${cc.node} at ${l}`);
  } catch (e) {
    sim.trace(`membership step refused: ${(e as Error).message}`);
  }
  sim.afterInput(sim.node(l));
  return false;
}
