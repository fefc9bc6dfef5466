// What the driver wraps around the bytes it hands to Raft, so the state machine sees only its
// own commands while the driver can (a) recognise its own proposals when they are applied,
// whatever index they landed at and whichever leader appended them, and (b) replicate peer
// addresses through the log.
//   normal entry: u8 0 | u32be session hi | u32be session lo | u32be seq | command
//                 u8 1 | u32be session hi | u32be session lo | u32be seq | JSON {id, address}
//                 u8 2 | ... | JSON {id, incarnation}: the previous version's record of which
//                 data directory member `id` is; read and ignored (the Raft configuration
//                 names incarnations now)
//                 u8 3 | ... | JSON {level}: the committed cluster level (feature-level.ts); the
//                 leader proposes it once every member advertises at least that level
//                 Any other kind is a later version's: the driver stops applying (upgrade_required).
//   snapshot:     u32be addressBookJsonLength | JSON {id: address} | state-machine data
//                 (empty data = the bootstrap snapshot: no addresses, empty state machine);
//                 the previous version's incarnations ride in the address book under the key
//                 "@incarnations" (a JSON string; "@" starts no node id): decoded, unused.
//                 The committed cluster level rides there as "@level" (a number, which the
//                 previous version's reader skips), written only when above 0; the cluster
//                 id (driver/cluster-identity.ts) as "@cluster" (a string), once fixed.
import { isClusterId } from "./cluster-identity.js";

export const KIND_COMMAND = 0;
export const KIND_ADDRESS = 1;
export const KIND_INCARNATION = 2;
export const KIND_LEVEL = 3;
const INCARNATIONS_KEY = "@incarnations";
const LEVEL_KEY = "@level";
const CLUSTER_KEY = "@cluster";
export const ENTRY_HEADER = 13;

export function wrapEntry(
  kind: number,
  sessionHi: number,
  sessionLo: number,
  seq: number,
  body: Uint8Array,
): Uint8Array {
  const out = Buffer.allocUnsafe(ENTRY_HEADER + body.length);
  out[0] = kind;
  out.writeUInt32BE(sessionHi, 1);
  out.writeUInt32BE(sessionLo, 5);
  out.writeUInt32BE(seq, 9);
  out.set(body, ENTRY_HEADER);
  return out;
}

export interface EntryHeader {
  kind: number;
  sessionHi: number;
  sessionLo: number;
  seq: number;
}

/**
 * Reads the header into `out`; false when the data is too short to be a driver envelope. Any
 * kind is read: the caller refuses a kind it does not know (a later version's).
 */
export function readEntryHeader(data: Uint8Array, out: EntryHeader): boolean {
  if (data.length < ENTRY_HEADER) return false;
  const kind = data[0];
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  out.kind = kind;
  out.sessionHi = v.getUint32(1);
  out.sessionLo = v.getUint32(5);
  out.seq = v.getUint32(9);
  return true;
}

/** The body of a KIND_LEVEL entry. */
export function encodeLevel(level: number): Uint8Array {
  return Buffer.from(JSON.stringify({ level }), "utf8");
}

/** The level of a KIND_LEVEL body, or undefined when it is not one this build can read. */
export function decodeLevel(body: Uint8Array, valid: (n: number) => boolean): number | undefined {
  try {
    const o = JSON.parse(
      Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"),
    ) as unknown;
    if (o === null || typeof o !== "object" || Array.isArray(o)) return undefined;
    const level = (o as { level?: unknown }).level;
    return typeof level === "number" && valid(level) ? level : undefined;
  } catch {
    return undefined;
  }
}

export function wrapSnapshot(
  addresses: Readonly<Record<string, string>>,
  state: Uint8Array,
  incarnations: Readonly<Record<string, string>> = {},
  level = 0,
  cluster = "",
): Uint8Array {
  const withInc: Record<string, string | number> =
    Object.keys(incarnations).length === 0
      ? { ...addresses }
      : { ...addresses, [INCARNATIONS_KEY]: JSON.stringify(incarnations) };
  if (level > 0) withInc[LEVEL_KEY] = level;
  if (cluster !== "") withInc[CLUSTER_KEY] = cluster;
  const book = Buffer.from(JSON.stringify(withInc), "utf8");
  const out = Buffer.allocUnsafe(4 + book.length + state.length);
  out.writeUInt32BE(book.length, 0);
  book.copy(out, 4);
  out.set(state, 4 + book.length);
  return out;
}

export interface UnwrappedSnapshot {
  addresses: Record<string, string>;
  incarnations: Record<string, string>;
  /** The committed cluster level (0 when the snapshot names none). */
  level: number;
  /** The cluster id ("" when the snapshot names none). */
  cluster: string;
  state: Uint8Array;
}

export function unwrapSnapshot(data: Uint8Array): UnwrappedSnapshot {
  if (data.length === 0) return { addresses: {}, incarnations: {}, level: 0, cluster: "", state: data };
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 4) throw new Error("snapshot envelope too short");
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) throw new Error("snapshot envelope: address book overruns the data");
  const parsed = JSON.parse(b.toString("utf8", 4, 4 + n)) as unknown;
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error("snapshot envelope: bad address book");
  const addresses: Record<string, string> = {};
  const incarnations: Record<string, string> = {};
  let level = 0;
  let cluster = "";
  for (const [k, v] of Object.entries(parsed)) {
    if (k === CLUSTER_KEY) {
      if (!isClusterId(v)) throw new Error("snapshot envelope: bad cluster id");
      cluster = v;
      continue;
    }
    if (k === LEVEL_KEY) {
      if (!Number.isSafeInteger(v) || v < 0) throw new Error("snapshot envelope: bad cluster level");
      level = v as number;
      continue;
    }
    if (typeof v !== "string") continue;
    if (k !== INCARNATIONS_KEY) {
      addresses[k] = v;
      continue;
    }
    const inc = JSON.parse(v) as unknown;
    if (inc !== null && typeof inc === "object" && !Array.isArray(inc)) {
      for (const [id, x] of Object.entries(inc)) if (typeof x === "string") incarnations[id] = x;
    }
  }
  return { addresses, incarnations, level, cluster, state: b.subarray(4 + n) };
}
