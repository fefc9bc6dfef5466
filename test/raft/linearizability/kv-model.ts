// The sequential specification of the KV store (put/append/get per key) as a checker model.
import type { Model, Operation } from "./checker.js";

export interface KvInput {
  readonly op: "put" | "append" | "get";
  readonly key: string;
  readonly value: string;
}

export interface KvOutput {
  /** The value a get returned ("" for writes). */
  readonly value: string;
}

export type KvOperation = Operation<KvInput, KvOutput>;

export const kvModel: Model<string, KvInput, KvOutput> = {
  init: () => "",
  step(state, input, output) {
    switch (input.op) {
      case "put":
        return { ok: true, state: input.value };
      case "append":
        return { ok: true, state: state + input.value };
      case "get":
        return { ok: output.value === state, state };
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => s,
  partition(ops) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of ops) {
      const list = byKey.get(op.input.key);
      if (list) list.push(op);
      else byKey.set(op.input.key, [op]);
    }
    return [...byKey.values()];
  },
};
