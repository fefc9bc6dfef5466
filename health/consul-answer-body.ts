// The last Consul answer's bytes, as the chunks it arrived in (held, never copied), with the
// offsets of its entries, so the next answer can be compared with it a chunk at a time: one
// native memcmp per chunk boundary instead of one (and a view and an array) per entry. At
// 3,000 instances the per-entry compare of a wake-up that changed one check's output was most
// of the watcher's own CPU.

/** One answer's body: its chunks and, per top-level entry, where it starts, ends and is followed by `,` or `]`. */
export class AnswerBody {
  static readonly EMPTY = new AnswerBody([], [], [], [], []);

  /** Offset of each chunk's first byte in the body. */
  private readonly chunkStarts: number[] = [];
  /** Total bytes. */
  readonly size: number;
  /** The chunk of the last lookup (lookups mostly move forward). */
  private hint = 0;

  constructor(
    /** Non-empty chunks, in order. The caller never changes their bytes. */
    private readonly chunks: readonly Buffer[],
    /** Offset of each entry's first byte. */
    readonly starts: readonly number[],
    /** Offset just past each entry's last byte (trailing spaces excluded). */
    readonly ends: readonly number[],
    /** Offset of the `,` (or, for the last entry, `]`) after each entry. */
    readonly seps: readonly number[],
    /** Each entry's decoded value. */
    readonly values: readonly unknown[],
  ) {
    let at = 0;
    for (const c of chunks) {
      this.chunkStarts.push(at);
      at += c.length;
    }
    this.size = at;
  }

  get count(): number {
    return this.starts.length;
  }

  /** The chunk holding offset `p` (0 <= p < size). */
  private chunkAt(p: number): number {
    const h = this.hint;
    if (p >= this.chunkStarts[h] && p < this.chunkStarts[h] + this.chunks[h].length) return h;
    if (
      h + 1 < this.chunks.length &&
      p >= this.chunkStarts[h + 1] &&
      p < this.chunkStarts[h + 1] + this.chunks[h + 1].length
    ) {
      this.hint = h + 1;
      return this.hint;
    }
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.chunkStarts[mid] <= p) lo = mid;
      else hi = mid - 1;
    }
    this.hint = lo;
    return lo;
  }

  /** How many leading bytes of `buf[i, i + len)` equal the body's from offset `p` (p + len <= size). */
  commonPrefix(buf: Buffer, i: number, len: number, p: number): number {
    let done = 0;
    while (done < len) {
      const q = p + done;
      const k = this.chunkAt(q);
      const c = this.chunks[k];
      const off = q - this.chunkStarts[k];
      const seg = Math.min(len - done, c.length - off);
      const at = i + done;
      if (buf.compare(c, off, off + seg, at, at + seg) === 0) {
        done += seg;
        continue;
      }
      // The first differing byte is in this segment: bisect for it (equal prefix of lo bytes).
      let lo = 0;
      let hi = seg;
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (buf.compare(c, off, off + mid, at, at + mid) === 0) lo = mid;
        else hi = mid;
      }
      return done + lo;
    }
    return done;
  }

  /** The body's bytes [a, b) as views of its chunks. */
  slice(a: number, b: number): Buffer[] {
    const out: Buffer[] = [];
    let q = a;
    while (q < b) {
      const k = this.chunkAt(q);
      const off = q - this.chunkStarts[k];
      const seg = Math.min(b - q, this.chunks[k].length - off);
      out.push(this.chunks[k].subarray(off, off + seg));
      q += seg;
    }
    return out;
  }

  /** True when `buf` is exactly entry `k`'s bytes. */
  entryEquals(buf: Buffer, k: number): boolean {
    const len = this.ends[k] - this.starts[k];
    return buf.length === len && this.commonPrefix(buf, 0, len, this.starts[k]) === len;
  }
}
