// Binary codec for Raft messages and conf changes, used by the transport. Versioned, compact
// (entries' data is raw bytes, not base64) and strict: the decoder checks every length, enum,
// integer and index sequence and throws CodecError on anything malformed, so a forged frame is
// rejected without reaching the core.
//
// Frame:   "RF" u8(version=1) u32(count) message*
// Message: u8(type) str(from) str(to) num(term) num(logTerm) num(index) num(commit)
//          num(rejectHint) u8(flags: 1=reject 2=force 4=snapshot 8=incarnation 16=conf extras)
//          bytes(context) u32(entryCount) entry* [str(incarnation)] [snapshot]
// Entry:   num(term) num(index) u8(type: 0=normal 1=conf) bytes(data)
// Snapshot: num(index) num(term) strs(voters) strs(learners) [u32 n (str id, str inc)* strs(rejoin)]
//          [retired] bytes(data)
// Retired (flag 32, the leader's retired data directories as of the snapshot, core/retired-dirs.ts):
//          u32 n (str id, strs incs)*  u32 n (str id, strs incs, str last)*  u32 n (str id, str inc)*
// Flags 8 and 16 are set only when there is something to carry (a non-founder sender, a
// configuration naming incarnations), so a founder-only cluster's frames are byte-identical to
// the previous version's (which refuses unknown flags: see README, mixed versions). Flag 32 is
// set only when the snapshot carries a retired list, which the core sends only once the whole
// fleet reads it (LEVEL_SNAPSHOT_RETIRED): a build of level 7 refuses the flag, and with it the
// whole frame.
// appResp and heartbeatResp carry the sender's feature level in the commit slot (they have no
// commit of their own; the released version reads and ignores it there, and sends 0).
// num = float64 holding a non-negative safe integer; str = u16 length + UTF-8; bytes = u32 length + raw.
import type {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  EntryType,
  NodeId,
  RetiredState,
  Snapshot,
} from "../types.js";
import { withExtras } from "./conf.js";
import { CodecError } from "./errors.js";
import { CURRENT_LEVEL, LEVEL_SNAPSHOT_RETIRED } from "./feature-level.js";
import { carriesLevel, MESSAGE_TYPES, type Message, type MessageType } from "./message.js";
import { DEPARTED_MAX, RETIRED_MAX, retiredStateProblem } from "./retired-dirs.js";

const VERSION = 1;
const CONF_VERSION = 1;
const MAX_ID_BYTES = 255;
const MAX_MEMBERS = 10_000;
const FLAG_REJECT = 1;
const FLAG_FORCE = 2;
const FLAG_SNAPSHOT = 4;
const FLAG_INCARNATION = 8;
const FLAG_CONF_EXTRAS = 16;
const FLAG_RETIRED = 32;
const KNOWN_FLAGS =
  FLAG_REJECT | FLAG_FORCE | FLAG_SNAPSHOT | FLAG_INCARNATION | FLAG_CONF_EXTRAS | FLAG_RETIRED;
/** Conf change v2 carries the incarnation and the rejoin flag; v1 (none of them) stays readable. */
const CONF_VERSION_INC = 2;
const ENTRY_TYPES: readonly EntryType[] = ["normal", "conf"];
const CONF_TYPES: readonly ConfChangeType[] = ["addLearner", "addVoter", "removeNode"];

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }
  num(v: number, what: string): void {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new CodecError(`${what} must be a non-negative integer, got ${v}`);
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }
  str(s: string, what: string): void {
    const b = utf8Encoder.encode(s);
    if (b.length > MAX_ID_BYTES) throw new CodecError(`${what} longer than ${MAX_ID_BYTES} bytes`);
    this.u16(b.length);
    this.raw(b);
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.raw(b);
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private readonly view: DataView;
  pos = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number, what: string): void {
    if (this.remaining < n) throw new CodecError(`truncated input reading ${what} at byte ${this.pos}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  num(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    if (!Number.isSafeInteger(v) || v < 0) throw new CodecError(`${what} is not a non-negative integer`);
    return v;
  }
  str(what: string): string {
    const n = this.u16(what);
    if (n > MAX_ID_BYTES) throw new CodecError(`${what} longer than ${MAX_ID_BYTES} bytes`);
    this.need(n, what);
    try {
      const start = this.pos;
      this.pos += n;
      return utf8Decoder.decode(this.buf.subarray(start, this.pos));
    } catch {
      throw new CodecError(`${what} is not valid UTF-8`);
    }
  }
  bytes(what: string): Uint8Array {
    const n = this.u32(what);
    this.need(n, what);
    // Copy so that decoded messages do not pin (or alias) the transport's receive buffer.
    const start = this.pos;
    this.pos += n;
    return this.buf.slice(start, this.pos);
  }
  count(what: string, minBytesEach: number): number {
    const n = this.u32(what);
    if (n * minBytesEach > this.remaining) throw new CodecError(`${what} ${n} exceeds the input size`);
    return n;
  }
}

export function encodeMessages(msgs: readonly Message[]): Uint8Array {
  const w = new Writer(256);
  w.u8(0x52); // "R"
  w.u8(0x46); // "F"
  w.u8(VERSION);
  w.u32(msgs.length);
  for (const m of msgs) writeMessage(w, m);
  return w.done();
}

/**
 * Decodes a frame. `level` below this build's reads as a build of that level does (a test seam,
 * as the driver's `level`): it refuses the flags that came later, so a mixed fleet in one process
 * meets what a real older peer would refuse.
 */
export function decodeMessages(bytes: Uint8Array, level = CURRENT_LEVEL): Message[] {
  if (!(bytes instanceof Uint8Array)) throw new CodecError("input is not a Uint8Array");
  const known = level >= LEVEL_SNAPSHOT_RETIRED ? KNOWN_FLAGS : KNOWN_FLAGS & ~FLAG_RETIRED;
  const r = new Reader(bytes);
  if (r.u8("magic") !== 0x52 || r.u8("magic") !== 0x46) throw new CodecError("bad magic (not a Raft frame)");
  const version = r.u8("version");
  if (version !== VERSION) throw new CodecError(`unsupported version ${version}`);
  const n = r.count("message count", 40);
  const out: Message[] = [];
  for (let i = 0; i < n; i++) out.push(readMessage(r, known));
  if (r.remaining !== 0) throw new CodecError(`${r.remaining} trailing bytes`);
  return out;
}

function writeMessage(w: Writer, m: Message): void {
  const t = MESSAGE_TYPES.indexOf(m.type);
  if (t < 0) throw new CodecError(`unknown message type ${String(m.type)}`);
  w.u8(t);
  w.str(m.from, "from");
  w.str(m.to, "to");
  w.num(m.term, "term");
  w.num(m.logTerm, "logTerm");
  w.num(m.index, "index");
  w.num(carriesLevel(m.type) ? m.level : m.commit, "commit");
  w.num(m.rejectHint, "rejectHint");
  const extras = m.snapshot !== undefined && hasExtras(m.snapshot.meta.conf);
  const retired = m.snapshot?.meta.retired !== undefined;
  w.u8(
    (m.reject ? FLAG_REJECT : 0) |
      (m.force ? FLAG_FORCE : 0) |
      (m.snapshot ? FLAG_SNAPSHOT : 0) |
      (m.incarnation ? FLAG_INCARNATION : 0) |
      (extras ? FLAG_CONF_EXTRAS : 0) |
      (retired ? FLAG_RETIRED : 0),
  );
  w.bytes(m.context);
  w.u32(m.entries.length);
  for (const e of m.entries) {
    w.num(e.term, "entry term");
    w.num(e.index, "entry index");
    const et = ENTRY_TYPES.indexOf(e.type);
    if (et < 0) throw new CodecError(`unknown entry type ${String(e.type)}`);
    w.u8(et);
    w.bytes(e.data);
  }
  if (m.incarnation) w.str(m.incarnation, "incarnation");
  if (m.snapshot) writeSnapshot(w, m.snapshot, extras);
}

function hasExtras(c: ConfState): boolean {
  return (c.rejoin?.length ?? 0) > 0 || Object.keys(c.incarnations ?? {}).length > 0;
}

function writeSnapshot(w: Writer, s: Snapshot, extras: boolean): void {
  w.num(s.meta.index, "snapshot index");
  w.num(s.meta.term, "snapshot term");
  writeIds(w, s.meta.conf.voters);
  writeIds(w, s.meta.conf.learners);
  if (extras) {
    const incs = Object.entries(s.meta.conf.incarnations ?? {});
    w.u32(incs.length);
    for (const [id, inc] of incs) {
      w.str(id, "member id");
      w.str(inc, "incarnation");
    }
    writeIds(w, s.meta.conf.rejoin ?? []);
  }
  if (s.meta.retired !== undefined) writeRetired(w, s.meta.retired);
  w.bytes(s.data);
}

function writeRetired(w: Writer, r: RetiredState): void {
  w.u32(r.retired.length);
  for (const [id, incs] of r.retired) {
    w.str(id, "member id");
    writeIncarnations(w, incs);
  }
  w.u32(r.departed.length);
  for (const [id, incs, last] of r.departed) {
    w.str(id, "member id");
    writeIncarnations(w, incs);
    w.str(last, "incarnation");
  }
  w.u32(r.trusted.length);
  for (const [id, inc] of r.trusted) {
    w.str(id, "member id");
    w.str(inc, "incarnation");
  }
}

/** A member's retired incarnations: a founder's ("") among them. */
function writeIncarnations(w: Writer, incs: readonly string[]): void {
  w.u32(incs.length);
  for (const inc of incs) w.str(inc, "incarnation");
}

function writeIds(w: Writer, ids: readonly NodeId[]): void {
  w.u32(ids.length);
  for (const id of ids) w.str(id, "member id");
}

function readMessage(r: Reader, known: number): Message {
  const t = r.u8("message type");
  const type: MessageType | undefined = MESSAGE_TYPES[t];
  if (type === undefined) throw new CodecError(`unknown message type ${t}`);
  const from = r.str("from");
  const to = r.str("to");
  if (from === "" || to === "") throw new CodecError("empty node id");
  const term = r.num("term");
  const logTerm = r.num("logTerm");
  const index = r.num("index");
  const commitSlot = r.num("commit");
  const rejectHint = r.num("rejectHint");
  const flags = r.u8("flags");
  if ((flags & ~known) !== 0) throw new CodecError(`unknown flags ${flags}`);
  const context = r.bytes("context");
  const n = r.count("entry count", 21);
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const eTerm = r.num("entry term");
    const eIndex = r.num("entry index");
    const et = r.u8("entry type");
    const eType = ENTRY_TYPES[et];
    if (eType === undefined) throw new CodecError(`unknown entry type ${et}`);
    const data = r.bytes("entry data");
    // A forwarded proposal ("prop") carries entries the leader has not numbered yet (index 0;
    // the leader assigns indexes on append), so only log entries must be numbered from 1 on.
    if (type !== "prop") {
      if (eIndex === 0) throw new CodecError("entry index 0");
      if (i > 0 && eIndex !== entries[i - 1].index + 1)
        throw new CodecError("entry indexes are not consecutive");
    }
    if (i > 0 && eTerm < entries[i - 1].term) throw new CodecError("entry terms decrease");
    entries.push({ term: eTerm, index: eIndex, type: eType, data });
  }
  if (type === "app" && n > 0 && entries[0].index !== index + 1) {
    throw new CodecError("append entries do not follow the previous index");
  }
  const incarnation = (flags & FLAG_INCARNATION) !== 0 ? r.str("incarnation") : "";
  if ((flags & FLAG_INCARNATION) !== 0 && incarnation === "") throw new CodecError("empty incarnation");
  if ((flags & FLAG_CONF_EXTRAS) !== 0 && (flags & FLAG_SNAPSHOT) === 0)
    throw new CodecError("conf extras without a snapshot");
  if ((flags & FLAG_RETIRED) !== 0 && (flags & FLAG_SNAPSHOT) === 0)
    throw new CodecError("a retired list without a snapshot");
  const snapshot =
    (flags & FLAG_SNAPSHOT) !== 0
      ? readSnapshot(r, (flags & FLAG_CONF_EXTRAS) !== 0, (flags & FLAG_RETIRED) !== 0)
      : undefined;
  if (type === "snap" && snapshot === undefined) throw new CodecError("snap message without a snapshot");
  return {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit: carriesLevel(type) ? 0 : commitSlot,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    force: (flags & FLAG_FORCE) !== 0,
    context,
    snapshot,
    incarnation,
    level: carriesLevel(type) ? commitSlot : 0,
  };
}

function readSnapshot(r: Reader, extras: boolean, hasRetired: boolean): Snapshot {
  const index = r.num("snapshot index");
  const term = r.num("snapshot term");
  const voters = readIds(r, "voters");
  const learners = readIds(r, "learners");
  let incarnations: Record<NodeId, string> | undefined;
  let rejoin: NodeId[] | undefined;
  if (extras) {
    const n = r.count("incarnations", 4);
    if (n > MAX_MEMBERS) throw new CodecError("too many incarnations");
    incarnations = {};
    for (let i = 0; i < n; i++) {
      const id = r.str("incarnation member");
      const inc = r.str("incarnation");
      if (id === "" || inc === "")
        throw new CodecError("empty id or incarnation in the snapshot's configuration");
      incarnations[id] = inc;
    }
    rejoin = readIds(r, "rejoin");
  }
  const conf = withExtras({ voters, learners }, incarnations, rejoin);
  const retired = hasRetired ? readRetired(r, conf) : undefined;
  const data = r.bytes("snapshot data");
  return { meta: { index, term, conf, ...(retired !== undefined ? { retired } : {}) }, data };
}

/**
 * The leader's retired list, refused whole unless it is one a replay of the snapshot's history
 * could give (retiredStateProblem): every count is bounded before anything is read past it.
 */
function readRetired(r: Reader, conf: ConfState): RetiredState {
  const retired: [NodeId, string[]][] = [];
  const n = r.count("retired members", 6);
  if (n > MAX_MEMBERS) throw new CodecError("too many retired members");
  for (let i = 0; i < n; i++) retired.push([r.str("retired member"), readIncarnations(r)]);
  const departed: [NodeId, string[], string][] = [];
  const d = r.count("departed members", 8);
  if (d > DEPARTED_MAX) throw new CodecError(`${d} departed members, at most ${DEPARTED_MAX} are kept`);
  for (let i = 0; i < d; i++) {
    const id = r.str("departed member");
    departed.push([id, readIncarnations(r), r.str("departed incarnation")]);
  }
  const trusted: [NodeId, string][] = [];
  const t = r.count("trusted members", 4);
  if (t > MAX_MEMBERS) throw new CodecError("too many trusted members");
  for (let i = 0; i < t; i++) trusted.push([r.str("trusted member"), r.str("trusted incarnation")]);
  for (const [id] of [...retired, ...departed, ...trusted])
    if (id === "") throw new CodecError("empty id in the snapshot's retired list");
  const state: RetiredState = { retired, departed, trusted };
  const problem = retiredStateProblem(state, conf);
  if (problem !== "") throw new CodecError(`snapshot's retired list: ${problem}`);
  return state;
}

function readIncarnations(r: Reader): string[] {
  const n = r.count("retired incarnations", 2);
  if (n > RETIRED_MAX)
    throw new CodecError(`${n} retired incarnations of one member, at most ${RETIRED_MAX}`);
  const incs: string[] = [];
  for (let i = 0; i < n; i++) incs.push(r.str("retired incarnation"));
  return incs;
}

function readIds(r: Reader, what: string): NodeId[] {
  const n = r.count(what, 2);
  if (n > MAX_MEMBERS) throw new CodecError(`too many ${what}`);
  const ids: NodeId[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.str(what);
    if (id === "") throw new CodecError(`empty id in ${what}`);
    ids.push(id);
  }
  return ids;
}

/**
 * Conf change: u8(version=1) u8(type) str(node), or, when it names an incarnation or rejoin,
 * u8(version=2) u8(type) str(node) str(incarnation) u8(rejoin). A change without them stays v1,
 * readable by the previous version.
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const t = CONF_TYPES.indexOf(cc.type);
  if (t < 0) throw new CodecError(`unknown conf change type ${String(cc.type)}`);
  if (typeof cc.node !== "string" || cc.node === "")
    throw new CodecError("conf change node must be a non-empty id");
  if (cc.incarnation !== undefined && typeof cc.incarnation !== "string")
    throw new CodecError("conf change incarnation must be a string");
  const v2 = (cc.incarnation ?? "") !== "" || cc.rejoin === true;
  const w = new Writer(16 + (cc.node.length + (cc.incarnation?.length ?? 0)) * 3);
  w.u8(v2 ? CONF_VERSION_INC : CONF_VERSION);
  w.u8(t);
  w.str(cc.node, "conf change node");
  if (v2) {
    w.str(cc.incarnation ?? "", "conf change incarnation");
    w.u8(cc.rejoin ? 1 : 0);
  }
  return w.done();
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  if (!(bytes instanceof Uint8Array)) throw new CodecError("input is not a Uint8Array");
  const r = new Reader(bytes);
  const v = r.u8("conf change version");
  if (v !== CONF_VERSION && v !== CONF_VERSION_INC)
    throw new CodecError(`unsupported conf change version ${v}`);
  const t = r.u8("conf change type");
  const type = CONF_TYPES[t];
  if (type === undefined) throw new CodecError(`unknown conf change type ${t}`);
  const node = r.str("conf change node");
  if (node === "") throw new CodecError("conf change node is empty");
  if (v === CONF_VERSION) {
    if (r.remaining !== 0) throw new CodecError(`${r.remaining} trailing bytes in conf change`);
    return { type, node };
  }
  const incarnation = r.str("conf change incarnation");
  const rejoin = r.u8("conf change rejoin");
  if (rejoin > 1) throw new CodecError(`bad conf change rejoin flag ${rejoin}`);
  if (r.remaining !== 0) throw new CodecError(`${r.remaining} trailing bytes in conf change`);
  return rejoin === 1 ? { type, node, incarnation, rejoin: true } : { type, node, incarnation };
}
