// What the driver wraps around the bytes it hands to Raft, so the state machine sees only its
// own commands while the driver can (a) recognise its own proposals when they are applied,
// whatever index they landed at and whichever leader appended them, and (b) replicate peer
// addresses through the log.
//   normal entry: u8 0 | u32be session hi | u32be session lo | u32be seq | command
//                 u8 1 | u32be session hi | u32be session lo | u32be seq | JSON {id, address}
//                 u8 2 | ... | JSON {id, incarnation}: the previous version's record of which
//                 data directory member `id` is; read and ignored (the Raft configuration
//                 names incarnations now)
//   snapshot:     u32be addressBookJsonLength | JSON {id: address} | state-machine data
//                 (empty data = the bootstrap snapshot: no addresses, empty state machine);
//                 the previous version's incarnations ride in the address book under the key
//                 "@incarnations" (a JSON string; "@" starts no node id): decoded, unused.
export const KIND_COMMAND = 0;
export const KIND_ADDRESS = 1;
export const KIND_INCARNATION = 2;
const INCARNATIONS_KEY = "@incarnations";
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

/** Reads the header into `out`; false when the data is not a driver envelope. */
export function readEntryHeader(data: Uint8Array, out: EntryHeader): boolean {
  if (data.length < ENTRY_HEADER) return false;
  const kind = data[0];
  if (kind !== KIND_COMMAND && kind !== KIND_ADDRESS && kind !== KIND_INCARNATION) return false;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  out.kind = kind;
  out.sessionHi = v.getUint32(1);
  out.sessionLo = v.getUint32(5);
  out.seq = v.getUint32(9);
  return true;
}

export function wrapSnapshot(
  addresses: Readonly<Record<string, string>>,
  state: Uint8Array,
  incarnations: Readonly<Record<string, string>> = {},
): Uint8Array {
  const withInc =
    Object.keys(incarnations).length === 0
      ? addresses
      : { ...addresses, [INCARNATIONS_KEY]: JSON.stringify(incarnations) };
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
  state: Uint8Array;
}

export function unwrapSnapshot(data: Uint8Array): UnwrappedSnapshot {
  if (data.length === 0) return { addresses: {}, incarnations: {}, state: data };
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 4) throw new Error("snapshot envelope too short");
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) throw new Error("snapshot envelope: address book overruns the data");
  const parsed = JSON.parse(b.toString("utf8", 4, 4 + n)) as unknown;
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error("snapshot envelope: bad address book");
  const addresses: Record<string, string> = {};
  const incarnations: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
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
  return { addresses, incarnations, state: b.subarray(4 + n) };
}
