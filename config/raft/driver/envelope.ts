// What the driver wraps around the bytes it hands to Raft, so the state machine sees only its
// own commands while the driver can (a) recognise its own proposals when they are applied,
// whatever index they landed at and whichever leader appended them, and (b) replicate peer
// addresses through the log.
//   normal entry: u8 0 | u32be session hi | u32be session lo | u32be seq | command
//                 u8 1 | u32be session hi | u32be session lo | u32be seq | JSON {id, address}
//   snapshot:     u32be addressBookJsonLength | JSON {id: address} | state-machine data
//                 (empty data = the bootstrap snapshot: no addresses, empty state machine)
export const KIND_COMMAND = 0;
export const KIND_ADDRESS = 1;
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
  if (kind !== KIND_COMMAND && kind !== KIND_ADDRESS) return false;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  out.kind = kind;
  out.sessionHi = v.getUint32(1);
  out.sessionLo = v.getUint32(5);
  out.seq = v.getUint32(9);
  return true;
}

export function wrapSnapshot(addresses: Readonly<Record<string, string>>, state: Uint8Array): Uint8Array {
  const book = Buffer.from(JSON.stringify(addresses), "utf8");
  const out = Buffer.allocUnsafe(4 + book.length + state.length);
  out.writeUInt32BE(book.length, 0);
  book.copy(out, 4);
  out.set(state, 4 + book.length);
  return out;
}

export function unwrapSnapshot(data: Uint8Array): { addresses: Record<string, string>; state: Uint8Array } {
  if (data.length === 0) return { addresses: {}, state: data };
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 4) throw new Error("snapshot envelope too short");
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) throw new Error("snapshot envelope: address book overruns the data");
  const parsed = JSON.parse(b.toString("utf8", 4, 4 + n)) as unknown;
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error("snapshot envelope: bad address book");
  const addresses: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) if (typeof v === "string") addresses[k] = v;
  return { addresses, state: b.subarray(4 + n) };
}
