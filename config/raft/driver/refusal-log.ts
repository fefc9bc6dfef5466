// One log line per (peer, reason) per interval for refused cluster traffic, instead of one per
// message: a removed member that keeps campaigning, or anyone replaying frames at the Raft
// port, would otherwise write a line per message (and fill the disk the log lives on). Every
// refusal is still counted by its caller; a line says how many were left unsaid since the last.
// The table of (peer, reason) keys is bounded: pre-authentication refusals name whatever id or
// address the other side claimed, so past MAX_KEYS the rest share one key per reason.

const MAX_KEYS = 1024;
const OTHERS = "(other peers)";

interface Slot {
  at: number;
  unsaid: number;
}

export class RefusalLog {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly intervalMs: number,
    private readonly write: (line: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Notes one refusal of `reason` (a code) from `peer` (`outbound`: of traffic to it); writes a
   * line at most once per interval per pair.
   */
  note(peer: string, reason: string, detail: string, outbound = false): void {
    const t = this.now();
    let who = peer;
    let key = `${who}\u0000${reason}`;
    let slot = this.slots.get(key);
    if (slot === undefined && this.slots.size >= MAX_KEYS) {
      this.forgetOlderThan(t - this.intervalMs);
      if (this.slots.size >= MAX_KEYS) {
        who = OTHERS;
        key = `${who}\u0000${reason}`;
        slot = this.slots.get(key);
      }
    }
    if (slot !== undefined && t - slot.at < this.intervalMs) {
      slot.unsaid++;
      return;
    }
    const unsaid = slot?.unsaid ?? 0;
    this.slots.set(key, { at: t, unsaid: 0 });
    const more = unsaid > 0 ? ` (${unsaid} more since the last line)` : "";
    const what = outbound ? `to ${who} not sent` : `from ${who}`;
    this.write(`refused cluster traffic (code ${reason}) ${what}: ${detail}${more}`);
  }

  private forgetOlderThan(t: number): void {
    for (const [k, s] of this.slots) if (s.at < t) this.slots.delete(k);
  }
}
