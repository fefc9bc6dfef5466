// Validation of big commands happens once per process, where the command enters: the
// proposer validates its bytes, and when the same bytes come back committed, apply takes that
// result instead of running the schema over a 5,000-member routing a second time. The key is
// the bytes' SHA-256, so only byte-identical commands share a result, and bytes this process
// never validated (a follower's entries, a replay, anything a peer wrote into the log) are
// still validated in full: a command from the log can never skip the check.

import { createHash } from "node:crypto";
import { type CommandResult, validateCommand } from "./commands.js";

/** Below this, validating is cheaper than hashing plus the bookkeeping. */
const MIN_BYTES = 16 * 1024;
/** A proposal is applied within moments; a handful in flight at once is plenty. */
const KEPT = 4;

const recent = new Map<string, CommandResult>();

/** validateCommand; a valid large command's result is kept by content until it is asked for again. */
export function validateCommandOnce(bytes: Uint8Array): CommandResult {
  if (bytes.byteLength < MIN_BYTES) return validateCommand(bytes);
  const key = createHash("sha256").update(bytes).digest("base64");
  const known = recent.get(key);
  if (known !== undefined) {
    // Taken once: the proposer's result serves the apply of its entry, and nothing of a
    // 5,000-member command stays referenced from here after that (RSS over many reloads).
    recent.delete(key);
    return known;
  }
  const r = validateCommand(bytes);
  // Only valid results (an invalid one is never proposed); the oldest of never-applied ones go first.
  if (r.ok) {
    recent.set(key, r);
    if (recent.size > KEPT) recent.delete(recent.keys().next().value as string);
  }
  return r;
}
