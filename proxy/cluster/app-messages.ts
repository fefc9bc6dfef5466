// The messages instances send each other beside Raft, over the driver's authenticated
// application channel: a follower's outcome batch for the leader's breaker controller, and a
// learner's request to be added. JSON, versioned, and decoded strictly: anything that is not
// exactly one of these shapes (within bounds) is rejected with a reason and counted by the
// caller; nothing here throws.

import type { OutcomeBatch, OutcomeCounts } from "../../health/outcome-recorder.js";

export const APP_MESSAGE_VERSION = 1;
/** Upper bound on entries in one batch (pools x members seen in 100 ms). */
export const MAX_BATCH_ENTRIES = 20_000;
const MAX_NAME = 128;
const MAX_COUNT = 0xffffffff;

export type AppMessage =
  | { readonly kind: "outcomes"; readonly batch: OutcomeBatch }
  | {
      readonly kind: "join";
      readonly id: string;
      readonly address: string;
      /** The sender's data-directory incarnation (absent from older senders). */
      readonly incarnation?: string;
    };

export type DecodeResult = { ok: true; message: AppMessage } | { ok: false; reason: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeOutcomes(batch: OutcomeBatch): Uint8Array {
  return encoder.encode(JSON.stringify({ v: APP_MESSAGE_VERSION, kind: "outcomes", entries: batch.entries }));
}

export function encodeJoin(id: string, address: string, incarnation?: string): Uint8Array {
  return encoder.encode(JSON.stringify({ v: APP_MESSAGE_VERSION, kind: "join", id, address, incarnation }));
}

const INCARNATION = /^[0-9a-f]{1,64}$/;

function isName(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= MAX_NAME;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_COUNT;
}

const ENTRY_KEYS = [
  "pool",
  "member",
  "success",
  "failure",
  "consecutive",
  "maxConsecutive",
  "connectErrors",
  "resets",
  "timeouts",
] as const;

function entryOf(v: unknown): OutcomeCounts | string {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "entry is not an object";
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(ENTRY_KEYS as readonly string[]).includes(k)) return `unknown field ${k}`;
  if (!isName(o.pool) || !isName(o.member)) return "pool/member must be non-empty strings";
  for (const k of ENTRY_KEYS.slice(2)) if (!isCount(o[k])) return `${k} must be a count`;
  const e = o as unknown as OutcomeCounts;
  if (e.connectErrors + e.resets + e.timeouts > e.failure) return "failure breakdown exceeds failures";
  if (e.maxConsecutive < e.consecutive) return "maxConsecutive below consecutive";
  return {
    pool: e.pool,
    member: e.member,
    success: e.success,
    failure: e.failure,
    consecutive: e.consecutive,
    maxConsecutive: e.maxConsecutive,
    connectErrors: e.connectErrors,
    resets: e.resets,
    timeouts: e.timeouts,
  };
}

export function decodeAppMessage(bytes: Uint8Array): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, reason: "not UTF-8 JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { ok: false, reason: "not an object" };
  const o = value as Record<string, unknown>;
  if (o.v !== APP_MESSAGE_VERSION) return { ok: false, reason: `unsupported version ${String(o.v)}` };
  if (o.kind === "outcomes") {
    if (Object.keys(o).length !== 3 || !Array.isArray(o.entries))
      return { ok: false, reason: "bad outcomes shape" };
    if (o.entries.length > MAX_BATCH_ENTRIES) return { ok: false, reason: "too many entries" };
    const entries: OutcomeCounts[] = [];
    for (const raw of o.entries) {
      const e = entryOf(raw);
      if (typeof e === "string") return { ok: false, reason: e };
      entries.push(e);
    }
    return { ok: true, message: { kind: "outcomes", batch: { entries } } };
  }
  if (o.kind === "join") {
    const withInc = o.incarnation !== undefined;
    if (withInc && (typeof o.incarnation !== "string" || !INCARNATION.test(o.incarnation)))
      return { ok: false, reason: "bad join incarnation" };
    if (
      Object.keys(o).length !== (withInc ? 5 : 4) ||
      !isName(o.id) ||
      typeof o.address !== "string" ||
      o.address.length > 300
    )
      return { ok: false, reason: "bad join shape" };
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(o.address))
      return { ok: false, reason: "bad join address" };
    const message: AppMessage = withInc
      ? { kind: "join", id: o.id, address: o.address, incarnation: o.incarnation as string }
      : { kind: "join", id: o.id, address: o.address };
    return { ok: true, message };
  }
  return { ok: false, reason: `unknown kind ${JSON.stringify(o.kind)}` };
}
