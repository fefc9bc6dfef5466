// The real FileStorage on an in-memory file system with a page cache (mem-fs.ts), crashed at
// every step of a conflict truncation, a snapshot install and a segment roll, both as a
// process crash (kill -9: the kernel keeps what was written) and as a power loss (only synced
// data and names survive, unsynced appends possibly torn).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FileStorage } from "../../config/raft/storage/index.js";
import type { Entry } from "../../config/raft/types.js";
import { randomBytes, SEED, seededRandom } from "../support/prng.js";
import { type Image, MemFs, type Step } from "./mem-fs.js";

const rand = seededRandom(SEED);
const DIR = "/d";

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: "normal", data: randomBytes(rand, 24) });
  return out;
}

const KINDS = ["process", "power", "powerTorn"] as const;

async function eachCrash(
  steps: readonly Step[],
  check: (s: FileStorage, step: number, why: string) => void,
  segmentBytes?: number,
): Promise<number> {
  let n = 0;
  for (let k = 0; k < steps.length; k++) {
    for (const kind of KINDS) {
      const img: Image = steps[k][kind];
      const why = `seed=${SEED} crash (${kind}) after step ${k} "${steps[k].op}"`;
      let s: FileStorage;
      try {
        s = await FileStorage.open(DIR, { fs: MemFs.fromImage(img), segmentBytes });
      } catch (err) {
        assert.fail(`${why}: recovery refused: ${(err as Error).message}`);
      }
      check(s, k, why);
      await s.close();
      n++;
    }
  }
  return n;
}

describe("file storage under crashes at every step", () => {
  for (const segmentBytes of [100_000, 260]) {
    const where = segmentBytes === 260 ? "across segments" : "inside the active segment";
    it(`a conflict truncation never takes the durable term and vote back (${where})`, async () => {
      const m = new MemFs();
      const s = await FileStorage.open(DIR, { fs: m, segmentBytes });
      s.append(ents(1, 8, 1));
      await s.sync();
      // This node voted for b in term 2 (durable before the vote was sent) ...
      s.setHardState({ term: 2, vote: "b", commit: 2 });
      await s.sync();
      // ... and b, now leader, overwrites the uncommitted tail from index 3.
      m.recording = true;
      s.append(ents(3, 4, 2));
      await s.sync();
      m.recording = false;
      await s.close();
      assert.ok(m.steps.length >= 3, "the truncation was observed step by step");
      const crashes = await eachCrash(
        m.steps,
        (r, _k, why) => {
          const hs = r.initialState().hardState;
          assert.equal(hs.term, 2, `${why}: term went back to ${hs.term}`);
          assert.equal(hs.vote, "b", `${why}: vote lost (${JSON.stringify(hs.vote)})`);
        },
        segmentBytes,
      );
      assert.ok(crashes >= 9);
    });
  }

  it("a crash during applySnapshot never resurrects entries of the replaced log", async () => {
    const m = new MemFs();
    const s = await FileStorage.open(DIR, { fs: m, segmentBytes: 260 });
    for (let i = 1; i <= 30; i += 3) s.append(ents(i, i + 2, 1));
    s.setHardState({ term: 1, vote: "", commit: 4 });
    await s.sync();
    assert.ok(s.segmentNames().length >= 3, "the old log spans several segments");
    m.recording = true;
    await s.applySnapshot({
      meta: { index: 10, term: 2, conf: { voters: ["a", "b", "c"], learners: [] } },
      data: new Uint8Array([7]),
    });
    s.append(ents(11, 12, 2));
    await s.sync();
    m.recording = false;
    await s.close();
    let installedSeen = 0;
    await eachCrash(m.steps, (r, _k, why) => {
      if (r.snapshot().meta.index !== 10) {
        assert.equal(r.lastIndex(), 30, `${why}: the old log is intact when the snapshot is not there`);
        return;
      }
      installedSeen++;
      assert.equal(r.firstIndex(), 11, why);
      assert.ok(r.lastIndex() <= 12, `${why}: last index ${r.lastIndex()}`);
      for (let i = 11; i <= r.lastIndex(); i++)
        assert.equal(r.term(i), 2, `${why}: entry ${i} is from the replaced log`);
      assert.ok(r.initialState().hardState.commit >= 10, why);
    });
    assert.ok(installedSeen > 0);
  });

  it("a segment roll never leaves an unrecoverable 'old torn + new non-empty' state, nothing acknowledged is lost", async () => {
    const m = new MemFs();
    m.reorderSyncs = true;
    const s = await FileStorage.open(DIR, { fs: m, segmentBytes: 300 });
    m.recording = true;
    const acks: { at: number; last: number }[] = [];
    for (let i = 1; i <= 40; i += 3) {
      s.append(ents(i, i + 2, 1));
      // A Ready appends, then writes its hard state: the hard state is what rolls the segment.
      s.setHardState({ term: 1, vote: "", commit: i });
      await s.sync();
      acks.push({ at: m.steps.length, last: s.lastIndex() });
    }
    m.recording = false;
    assert.ok(s.segmentNames().length >= 4, "several rolls happened");
    await s.close();
    await eachCrash(
      m.steps,
      (r, k, why) => {
        let need = 0;
        for (const a of acks) if (k >= a.at - 1) need = Math.max(need, a.last);
        assert.ok(r.lastIndex() >= need, `${why}: acknowledged index ${need} lost (last ${r.lastIndex()})`);
      },
      300,
    );
  });

  it("two rolls between group commits: a power loss with writeback at any step never leaves an unrecoverable log", async () => {
    // Found by the driver simulation (seed 5534): a Ready filled a whole segment, so the group
    // commit held records for the old segment, a middle one and the new active one. The middle
    // one was written before the old one's tail was durable; background writeback (per file,
    // in any order) then persisted the middle segment and tore the old one, and recovery had
    // to refuse a torn record in an earlier segment: the node could never restart.
    const first = ents(1, 4, 1);
    const rest = [ents(5, 16, 1), ents(17, 28, 1), ents(29, 31, 1)];
    // Crashes just before the j-th file operation of the group commit, for every j.
    let crashedAt = 0;
    let draws = 0;
    for (let j = 1; ; j++) {
      const m = new MemFs();
      const s = await FileStorage.open(DIR, { fs: m, segmentBytes: 300 });
      s.append(first);
      s.setHardState({ term: 1, vote: "", commit: 4 });
      await s.sync();
      for (const batch of rest) s.append(batch);
      assert.ok(s.segmentNames().length >= 3, "the appends rolled twice before the group commit");
      const images: Image[] = [];
      let ops = 0;
      m.beforeOp = (op) => {
        if (++ops < j) return;
        for (let d = 0; d < 20; d++) images.push(m.image("powerReordered", rand));
        throw new Error(`crash before ${op}`);
      };
      const done = await s.sync().then(
        () => true,
        () => false,
      );
      m.beforeOp = null;
      for (const [d, img] of images.entries()) {
        const why = `seed=${SEED} power loss with writeback (draw ${d}) before file operation ${j} of the group commit`;
        let r: FileStorage;
        try {
          r = await FileStorage.open(DIR, { fs: MemFs.fromImage(img), segmentBytes: 300 });
        } catch (err) {
          assert.fail(`${why}: recovery refused: ${(err as Error).message}`);
        }
        assert.ok(r.lastIndex() >= 4, `${why}: acknowledged index 4 lost (last ${r.lastIndex()})`);
        await r.close();
        draws++;
      }
      if (done) {
        await s.close();
        break;
      }
      crashedAt = j;
    }
    assert.ok(crashedAt >= 6, `the group commit has several steps to crash at (${crashedAt})`);
    assert.ok(draws >= 120);
  });
});
