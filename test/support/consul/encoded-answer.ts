// The Consul double's /v1/health/service body as bytes, assembled from the previous answer to
// the same query. A blocking query re-sends the whole service after one instance changed; at
// 3,000 instances that is 2.7 MB, and copying it entry by entry (6,000 small copies) or
// encoding it as one string cost 5-50 ms per change on a loaded machine, time a real agent
// does not spend in the scale bench's Consul row. The entries that are the same objects as in
// the last answer (the double rebuilds only a changed entry) are the same bytes, so each run
// of them is one copy from the last body.

import type { HealthEntryLike } from "./filter.js";

export interface EncodedAnswer {
  /** JSON.stringify(entries) as UTF-8. */
  readonly body: Buffer;
  readonly entries: readonly HealthEntryLike[];
  /** Where entry i starts in `body`, and where it ends (exclusive). */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

const OPEN_BRACKET = Buffer.from("[");
const COMMA = Buffer.from(",");
const CLOSE_BRACKET = Buffer.from("]");

/** `entries` encoded; `last` (optional) is an earlier answer whose unchanged runs are reused. */
export function encodeAnswer(
  entries: readonly HealthEntryLike[],
  last: EncodedAnswer | undefined,
  bytesOf: (e: HealthEntryLike) => Buffer,
): EncodedAnswer {
  const parts: Buffer[] = [OPEN_BRACKET];
  const starts: number[] = [];
  const ends: number[] = [];
  let out = OPEN_BRACKET.length;
  // The open run: the range [runFrom, runTo) of the last body, consecutive reused entries
  // with the commas between them.
  let runFrom = -1;
  let runTo = -1;
  const closeRun = (): void => {
    if (runFrom < 0 || last === undefined) return;
    parts.push(last.body.subarray(runFrom, runTo));
    runFrom = -1;
  };
  const prev = last?.entries ?? [];
  /** Positions in the last answer, built only when an entry is not where expected. */
  let where: Map<HealthEntryLike, number> | undefined;
  let j = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (prev[j] !== e && last !== undefined) {
      // Entries of the last answer that are gone (removed, or changed: a new object) are skipped.
      const after = entries[i + 1];
      if (prev[j + 1] === e) j++;
      else if (j >= prev.length || (after !== undefined && (prev[j] === after || prev[j + 1] === after))) {
        // `e` is new: past the last answer's end, inserted before prev[j], or in place of it
        // (handled below). Not so for the last entry merely because nothing follows it: it may
        // be a kept entry further on ([A, B, C] -> [N, N', N'', C]), so it is looked up.
      } else {
        if (where === undefined) {
          where = new Map();
          for (let k = 0; k < prev.length; k++) where.set(prev[k], k);
        }
        const k = where.get(e);
        if (k !== undefined && k > j) j = k;
      }
    }
    const reuse = last !== undefined && prev[j] === e;
    if (i > 0) {
      if (reuse && runFrom >= 0 && runTo + COMMA.length === last.starts[j]) {
        // The next entry of the last body, right after the run: the run grows over it.
        runTo = last.ends[j];
        out += COMMA.length;
        starts.push(out);
        out += last.ends[j] - last.starts[j];
        ends.push(out);
        j++;
        continue;
      }
      closeRun();
      parts.push(COMMA);
      out += COMMA.length;
    }
    starts.push(out);
    if (reuse) {
      runFrom = last.starts[j];
      runTo = last.ends[j];
      out += runTo - runFrom;
      j++;
    } else {
      // A new object in place of the last answer's entry j: go on after that one.
      if (prev[j] !== entries[i + 1] && prev[j + 1] !== undefined && prev[j + 1] === entries[i + 1]) j++;
      const b = bytesOf(e);
      parts.push(b);
      out += b.length;
    }
    ends.push(out);
  }
  closeRun();
  parts.push(CLOSE_BRACKET);
  return { body: Buffer.concat(parts, out + CLOSE_BRACKET.length), entries, starts, ends };
}
