// A linearizability checker in the style of Porcupine (anishathalye/porcupine), after
// Wing & Gong and Lowe: depth-first search over the call/return history that linearizes a
// call whenever the model accepts it, backtracking at a return whose call is not yet
// linearized, and memoising (linearized-set, state) pairs so equivalent branches are not
// explored twice. Histories are split per partition (e.g. per key) and checked separately.

export interface Operation<I, O> {
  readonly client: number;
  readonly input: I;
  readonly output: O;
  /** Call and return times; `ret` = Infinity for an operation that never returned. */
  readonly call: number;
  readonly ret: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** Applies `input` to `state`; ok = the observed `output` is possible from `state`. */
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  equal(a: S, b: S): boolean;
  /** A string key for states (for memoisation); equal states must hash equally. */
  hash(s: S): string;
  /** Splits a history into independent sub-histories (e.g. per key). */
  partition?(ops: readonly Operation<I, O>[]): Operation<I, O>[][];
}

export type CheckResult = "ok" | "illegal" | "unknown";

interface Node<I, O> {
  readonly isCall: boolean;
  readonly id: number;
  readonly op: Operation<I, O> | null;
  readonly time: number;
  match: Node<I, O> | null;
  prev: Node<I, O> | null;
  next: Node<I, O> | null;
}

/** Checks a whole history; `maxSteps` bounds the search per partition ("unknown" if hit). */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps = 5_000_000,
): CheckResult {
  const parts = model.partition ? model.partition(ops) : [ops.slice()];
  let unknown = false;
  for (const p of parts) {
    const r = checkSingle(model, p, maxSteps);
    if (r === "illegal") return "illegal";
    if (r === "unknown") unknown = true;
  }
  return unknown ? "unknown" : "ok";
}

function checkSingle<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): CheckResult {
  const n = ops.length;
  if (n === 0) return "ok";
  const events: Node<I, O>[] = [];
  ops.forEach((op, id) => {
    if (!(op.ret >= op.call))
      throw new Error(`operation ${id} returns (${op.ret}) before its call (${op.call})`);
    const call: Node<I, O> = { isCall: true, id, op, time: op.call, match: null, prev: null, next: null };
    const ret: Node<I, O> = {
      isCall: false,
      id,
      op: null,
      time: op.ret,
      match: null,
      prev: null,
      next: null,
    };
    call.match = ret;
    events.push(call, ret);
  });
  // Calls before returns at equal times: touching operations count as concurrent.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Node<I, O> = { isCall: false, id: -1, op: null, time: -1, match: null, prev: null, next: null };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }

  const words = Math.ceil(n / 32);
  const linearized = new Uint32Array(words);
  const cache = new Map<string, S[]>();
  const stack: { node: Node<I, O>; state: S }[] = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;

  const lift = (call: Node<I, O>): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node<I, O>): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  while (head.next !== null) {
    if (++steps > maxSteps) return "unknown";
    if (entry === null) return "illegal"; // cannot happen: the list always ends in a return
    if (entry.isCall) {
      const op = entry.op!;
      const r = model.step(state, op.input, op.output);
      if (r.ok) {
        linearized[entry.id >>> 5] |= 1 << (entry.id & 31);
        const key = `${linearized.join(",")}|${model.hash(r.state)}`;
        const seen = cache.get(key);
        if (seen === undefined || !seen.some((s) => model.equal(s, r.state))) {
          if (seen) seen.push(r.state);
          else cache.set(key, [r.state]);
          stack.push({ node: entry, state });
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.id >>> 5] &= ~(1 << (entry.id & 31));
      }
      entry = entry.next;
    } else {
      // A return whose call is still in the list: everything before it was tried; backtrack.
      const top = stack.pop();
      if (!top) return "illegal";
      state = top.state;
      linearized[top.node.id >>> 5] &= ~(1 << (top.node.id & 31));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return "ok";
}
