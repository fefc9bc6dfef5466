// The replicated key-value state machine used by the simulation and the linearizability tests.
// Commands carry (client, seq) so a retried proposal applies at most once (6.824's dedup table).
const enc = new TextEncoder();
const dec = new TextDecoder();

export interface KvCommand {
  readonly client: number;
  readonly seq: number;
  readonly op: "put" | "append";
  readonly key: string;
  readonly value: string;
}

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeCommand(b: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(b)) as KvCommand;
}

export class KvStateMachine {
  data = new Map<string, string>();
  lastSeq = new Map<number, number>();

  /** Applies a command; returns false if it was a duplicate. */
  apply(c: KvCommand): boolean {
    if ((this.lastSeq.get(c.client) ?? -1) >= c.seq) return false;
    this.lastSeq.set(c.client, c.seq);
    if (c.op === "put") this.data.set(c.key, c.value);
    else this.data.set(c.key, (this.data.get(c.key) ?? "") + c.value);
    return true;
  }

  get(key: string): string {
    return this.data.get(key) ?? "";
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify({ d: [...this.data], s: [...this.lastSeq] }));
  }

  static restore(b: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (b.length === 0) return sm;
    const o = JSON.parse(dec.decode(b)) as { d: [string, string][]; s: [number, number][] };
    sm.data = new Map(o.d);
    sm.lastSeq = new Map(o.s);
    return sm;
  }
}
