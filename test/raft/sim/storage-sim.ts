// The storage half of the simulator (issue 9): the REAL FileStorage on the fault-injecting
// page-cache file system (test/raft-io/mem-fs.ts), driven by a seeded Raft-shaped workload
// (appends, votes, commit-only hard states, conflict truncations, snapshot installs, local
// snapshots with compaction, segment rolls from small segments), with fsyncs that complete in
// either order, a failing fsync or a full disk at a random point. The store is then crashed at
// random steps (kill -9, power loss, power loss with torn appends) and recovered; what was
// acknowledged (a sync or snapshot call that returned) is checked against what came back:
//   - recovery never refuses to start;
//   - the term never goes back, nor the vote within the acknowledged term;
//   - every entry up to the acknowledged commit index is there (or in the snapshot);
//   (acknowledged: a sync() or applySnapshot() that returned; saveSnapshot/compact promise only
//   the snapshot file)
//   - every recovered entry is one the log held at that index since the last acknowledgement
//     (nothing a truncation or an installed snapshot replaced comes back).
import { FileStorage } from "../../../config/raft/storage/index.js";
import type { Entry } from "../../../config/raft/types.js";
import { type Image, MemFs } from "../../raft-io/mem-fs.js";
import { seededRandom } from "../../support/prng.js";

const DIR = "/d";

interface ModelState {
  /** Steps recorded by the file system when this state was issued. */
  at: number;
  term: number;
  vote: string;
  commit: number;
  snapIndex: number;
  snapTerm: number;
  /** Terms of entries 1..n (index i at [i-1]); entries replaced by a snapshot are 0. */
  log: number[];
}

export interface StorageSeedResult {
  seed: number;
  ok: boolean;
  violations: string[];
  ops: number;
  crashes: number;
  faults: string[];
}

export async function runStorageSeed(seed: number): Promise<StorageSeedResult> {
  const rand = seededRandom(seed * 2654435761);
  const pick = (n: number) => Math.floor(rand() * n);
  const m = new MemFs();
  m.reorderSyncs = rand() < 0.5;
  const segmentBytes = 150 + pick(500);
  const faults: string[] = [];
  const s = await FileStorage.open(DIR, { fs: m, segmentBytes });
  m.recording = true;
  if (rand() < 0.15) {
    m.failSyncAt = 1 + pick(30);
    faults.push(`fsync #${m.failSyncAt} fails`);
  }
  if (rand() < 0.15) {
    m.capacityBytes = 1500 + pick(8000);
    faults.push(`disk full at ${m.capacityBytes} bytes`);
  }

  let cur: ModelState = { at: 0, term: 0, vote: "", commit: 0, snapIndex: 0, snapTerm: 0, log: [] };
  const states: ModelState[] = [cur];
  const acks: { at: number; state: number }[] = [{ at: 0, state: 0 }];
  const issue = (next: Omit<ModelState, "at">) => {
    cur = { ...next, at: m.steps.length };
    states.push(cur);
  };
  const ack = () => acks.push({ at: m.steps.length, state: states.length - 1 });
  /** Commit indexes handed to the kernel by writeNow(): a process crash must keep them. */
  const written: { at: number; commit: number }[] = [];
  const last = () => cur.log.length;
  const entries = (from: number, n: number, term: number): Entry[] => {
    const out: Entry[] = [];
    for (let i = 0; i < n; i++) {
      const data = new Uint8Array(8 + pick(60));
      data[0] = seed & 255;
      out.push({ index: from + i, term, type: "normal", data });
    }
    return out;
  };

  const ops = 25 + pick(40);
  let done = 0;
  try {
    for (; done < ops; done++) {
      const r = rand();
      if (r < 0.3) {
        const es = entries(last() + 1, 1 + pick(4), Math.max(cur.term, 1));
        if (cur.term === 0) {
          s.setHardState({ term: 1, vote: "", commit: cur.commit });
          issue({ ...cur, term: 1 });
        }
        s.append(es);
        issue({ ...cur, log: [...cur.log, ...es.map((e) => e.term)] });
      } else if (r < 0.5) {
        await s.sync();
        ack();
      } else if (r < 0.6) {
        const hs = { term: cur.term + 1, vote: `n${pick(3)}`, commit: cur.commit };
        s.setHardState(hs);
        issue({ ...cur, term: hs.term, vote: hs.vote });
        await s.sync(); // a vote is durable before it is sent
        ack();
      } else if (r < 0.72) {
        const commit = cur.commit + pick(last() - cur.commit + 1);
        s.setHardState({ term: cur.term, vote: cur.vote, commit });
        issue({ ...cur, commit });
        // As the Ready loop does before applying: the commit index reaches the kernel.
        if (rand() < 0.7 && s.writeNow()) written.push({ at: m.steps.length, commit });
      } else if (r < 0.84 && last() > cur.commit && last() > cur.snapIndex) {
        // A new leader (this node voted for it) overwrites the uncommitted tail.
        const term = cur.term + 1;
        s.setHardState({ term, vote: "L", commit: cur.commit });
        issue({ ...cur, term, vote: "L" });
        await s.sync();
        ack();
        const lo = Math.max(cur.commit, cur.snapIndex) + 1;
        const from = lo + pick(last() - lo + 1);
        const es = entries(from, 1 + pick(3), term);
        s.append(es);
        issue({ ...cur, log: [...cur.log.slice(0, from - 1), ...es.map((e) => e.term)] });
      } else if (r < 0.92) {
        // The leader sends a snapshot: past the log, or replacing a diverged uncommitted tail.
        const term = cur.term + 1;
        s.setHardState({ term, vote: "", commit: cur.commit });
        issue({ ...cur, term, vote: "" });
        const lo = Math.max(cur.commit, cur.snapIndex) + 1;
        const index = rand() < 0.5 || last() < lo ? last() + 1 + pick(4) : lo + pick(last() - lo + 1);
        const log = new Array<number>(index).fill(0);
        issue({ ...cur, snapIndex: index, snapTerm: term, commit: Math.max(cur.commit, index), log });
        await s.applySnapshot({
          meta: { index, term, conf: { voters: ["a", "b", "c"], learners: [] } },
          data: new Uint8Array([1, 2, 3]),
        });
        ack();
      } else if (cur.commit > cur.snapIndex && cur.commit <= last() && cur.log[cur.commit - 1] > 0) {
        const index = cur.commit;
        const term = cur.log[index - 1];
        // As the driver does: a snapshot is taken of applied (so durable) entries.
        await s.sync();
        ack();
        await s.saveSnapshot({
          meta: { index, term, conf: { voters: ["a", "b", "c"], learners: [] } },
          data: new Uint8Array([4]),
        });
        issue({ ...cur, snapIndex: index, snapTerm: term });
        // Durable: the snapshot file only (the WAL is not synced by this).
        await s.compact(index - pick(3));
      }
    }
    await s.sync();
    ack();
  } catch (err) {
    faults.push(`storage failed after ${done} ops: ${(err as Error).message.slice(0, 80)}`);
  }
  m.recording = false;

  const violations: string[] = [];
  const total = m.steps.length;
  const checks = new Set<number>([total - 1]);
  for (let i = 0; i < 6 && total > 0; i++) checks.add(pick(total));
  let crashes = 0;
  for (const k of checks) {
    if (k < 0) continue;
    for (const kind of ["process", "power", "powerTorn"] as const) {
      crashes++;
      let v = await checkCrash(m.steps[k][kind], k, states, acks);
      if (v === null && kind === "process") v = await checkWrittenCommit(m.steps[k].process, k, written);
      if (v !== null) violations.push(`crash (${kind}) after step ${k} "${m.steps[k].op}": ${v}`);
    }
  }
  return { seed, ok: violations.length === 0, violations, ops: done, crashes, faults };
}

/** kill -9 keeps what was handed to the kernel: the commit index writeNow() wrote. */
async function checkWrittenCommit(
  image: Image,
  k: number,
  written: readonly { at: number; commit: number }[],
): Promise<string | null> {
  let need = 0;
  for (const w of written) if (w.at - 1 <= k) need = Math.max(need, w.commit);
  if (need === 0) return null;
  const r = await FileStorage.open(DIR, { fs: MemFs.fromImage(image) });
  try {
    const c = Math.max(r.initialState().hardState.commit, r.snapshot().meta.index);
    return c >= need ? null : `commit index went back from ${need} to ${c} after kill -9`;
  } finally {
    await r.close();
  }
}

async function checkCrash(
  image: Image,
  k: number,
  states: readonly ModelState[],
  acks: readonly { at: number; state: number }[],
): Promise<string | null> {
  let a = acks[0];
  for (const x of acks) if (x.at - 1 <= k) a = x;
  const A = states[a.state];
  // States whose writes may have reached the disk by step k.
  const window = states.filter((st, j) => j >= a.state && st.at <= k + 1);
  let r: FileStorage;
  try {
    r = await FileStorage.open(DIR, { fs: MemFs.fromImage(image) });
  } catch (err) {
    return `recovery refused: ${(err as Error).message}`;
  }
  try {
    const hs = r.initialState().hardState;
    if (hs.term < A.term) return `term went back from ${A.term} to ${hs.term}`;
    if (hs.term === A.term && A.vote !== "" && hs.vote !== A.vote)
      return `vote in term ${A.term} changed from ${A.vote} to ${JSON.stringify(hs.vote)}`;
    const snap = r.snapshot().meta;
    const first = r.firstIndex();
    for (let i = first; i <= A.commit; i++) {
      if (i > r.lastIndex()) return `committed entry ${i} lost (last index ${r.lastIndex()})`;
      if (A.log[i - 1] > 0 && r.term(i) !== A.log[i - 1])
        return `committed entry ${i} has term ${r.term(i)}, acknowledged ${A.log[i - 1]}`;
    }
    if (snap.index < A.snapIndex && A.snapIndex > 0 && window.every((st) => st.snapIndex > snap.index))
      return `snapshot ${A.snapIndex} lost (recovered ${snap.index})`;
    for (let i = first; i <= r.lastIndex(); i++) {
      const t = r.term(i);
      if (!window.some((st) => st.log[i - 1] === t))
        return `entry ${i} term ${t} never in the log since the last acknowledgement (resurrected)`;
    }
  } finally {
    await r.close();
  }
  return null;
}
