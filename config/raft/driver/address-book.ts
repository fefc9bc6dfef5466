// Where every member listens. Addresses come from the operator's configuration, from address
// records replicated through the log (addLearner), and from snapshots; the transport is told
// of every change so it can (re)connect.
import type { TcpTransport } from "../transport/index.js";
import { parseAddress } from "../transport/index.js";
import type { NodeId } from "../types.js";

export class AddressBook {
  private readonly addresses: Record<NodeId, string> = {};
  transport: TcpTransport | null = null;

  constructor(
    private readonly self: NodeId,
    private readonly warn: (message: string) => void,
  ) {}

  get(id: NodeId): string | undefined {
    return this.addresses[id];
  }

  /** A copy, safe to hand out or to serialise into a snapshot. */
  all(): Record<NodeId, string> {
    return { ...this.addresses };
  }

  /** The peers' addresses (without this node's own). */
  peers(): Record<NodeId, string> {
    const out: Record<NodeId, string> = {};
    for (const [id, addr] of Object.entries(this.addresses)) if (id !== this.self) out[id] = addr;
    return out;
  }

  /** Records `address` for `id` and tells the transport; a malformed address is warned about and ignored. */
  set(id: NodeId, address: string): void {
    try {
      parseAddress(address);
    } catch {
      this.warn(`bad address ${address} for ${id} ignored`);
      return;
    }
    this.addresses[id] = address;
    if (id !== this.self) this.transport?.setPeer(id, address);
  }

  /**
   * Forgets `id` (a committed conf change removed it): the transport closes its link, so a
   * learner that left is not dialled for the life of the process, and later snapshots do not
   * carry its address. Adding it back replicates its address again (addLearner).
   */
  remove(id: NodeId): void {
    if (id === this.self || this.addresses[id] === undefined) return;
    delete this.addresses[id];
    this.transport?.removePeer(id);
  }

  /** Applies a replicated address record (JSON {id, address}). */
  applyRecord(body: Uint8Array): void {
    try {
      const rec = JSON.parse(Buffer.from(body).toString("utf8")) as { id?: unknown; address?: unknown };
      if (typeof rec.id === "string" && typeof rec.address === "string") this.set(rec.id, rec.address);
    } catch {
      this.warn("undecodable address record skipped");
    }
  }

  /** Takes a snapshot's addresses; at start the operator's configured ones win, later the log's are newer. */
  restore(addresses: Readonly<Record<NodeId, string>>, atStart: boolean): void {
    for (const [id, addr] of Object.entries(addresses)) {
      if (atStart && this.addresses[id] !== undefined) continue;
      this.set(id, addr);
    }
  }
}
