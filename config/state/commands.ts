// The commands of the replicated cluster state: their JSON wire form (versioned), their
// validation at propose time, and their encoding. A command that passes validateCommand is
// well-formed; whether it applies (the pool exists, ...) depends on the state it meets and
// is decided, deterministically, by ClusterState.apply.

import { z } from "zod";
import { errorText } from "../coded-error.js";
import type { ConfigError } from "../file/config-error.js";
import { formatPath } from "../file/config-error.js";
import { parseRouting } from "../file/load.js";
import { memberSchema, poolSchema, type RoutingConfig } from "../file/schema.js";
import { didYouMean } from "../file/suggest.js";
import { issuesToErrors } from "../file/zod-issues.js";

export const COMMAND_VERSION = 1;
export const COMMAND_TYPES = [
  "SetRouting",
  "SetMembers",
  "SetHealth",
  "SetBreaker",
  "Drain",
  "Undrain",
  "SetPoolSettings",
  "PatchRouting",
] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];
/**
 * The cluster feature level (config/raft/core/feature-level.ts) each command needs: a proposer
 * uses a command only once the committed level has it, so no instance meets one it does not
 * know. 0 = the released version's commands; PatchRouting came with level 1.
 */
export const COMMAND_LEVEL: Readonly<Record<CommandType, number>> = Object.freeze({
  SetRouting: 0,
  SetMembers: 0,
  SetHealth: 0,
  SetBreaker: 0,
  Drain: 0,
  Undrain: 0,
  SetPoolSettings: 0,
  PatchRouting: 1,
});
export const BREAKER_STATES = ["closed", "open", "half-open"] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];
/** Who decides a breaker: "auto" = the failure rules; "open"/"closed" = pinned by an operator. */
export const BREAKER_OVERRIDES = ["auto", "open", "closed"] as const;
export type BreakerOverride = (typeof BREAKER_OVERRIDES)[number];
export const MEMBER_SOURCES = ["static", "consul", "kubernetes"] as const;
export type MemberSource = (typeof MEMBER_SOURCES)[number];

/** Pool settings an operator may change at run time; members and discovery come from elsewhere. */
export const PATCHABLE_SETTINGS = [
  "algorithm",
  "pointsPerWeight",
  "tableSize",
  "balanceFactor",
  "healthCheck",
  "timeouts",
  "retry",
  "breaker",
  "passiveEjection",
] as const;
export type PatchableSetting = (typeof PATCHABLE_SETTINGS)[number];
/** Settings that may be removed by patching them to null. */
const REMOVABLE: ReadonlySet<string> = new Set(["balanceFactor", "healthCheck", "passiveEjection"]);
const MAX_COMMAND_BYTES = 8 * 1024 * 1024;

const poolName = z.string().min(1).max(128);
const memberId = z.string().min(1).max(128);
const time = z.number().min(0).finite();

/** Routing as written in a file or already normalized; validated with the config loader's rules. */
const routing = z.unknown().transform((value, ctx): RoutingConfig => {
  const r = parseRouting(value);
  if (r.ok) return r.routing;
  for (const e of r.errors) {
    ctx.issues.push({
      code: "custom",
      message: `${e.path}: ${e.message}`,
      input: value,
      path: [],
      params: { expected: e.expected },
    });
  }
  return z.NEVER;
});

const commandSchemas = {
  SetRouting: z.strictObject({ v: z.literal(1), type: z.literal("SetRouting"), routing }),
  SetMembers: z.strictObject({
    v: z.literal(1),
    type: z.literal("SetMembers"),
    pool: poolName,
    /** Replaces every member of this source; members of the other source are untouched. */
    source: z.enum(MEMBER_SOURCES),
    members: z.array(memberSchema.extend({ healthy: z.boolean().optional() })),
  }),
  SetHealth: z.strictObject({
    v: z.literal(1),
    type: z.literal("SetHealth"),
    pool: poolName,
    health: z.array(z.strictObject({ member: memberId, healthy: z.boolean() })).min(1),
  }),
  SetBreaker: z.strictObject({
    v: z.literal(1),
    type: z.literal("SetBreaker"),
    pool: poolName,
    member: memberId,
    state: z.enum(BREAKER_STATES),
    /** When the breaker entered `state` (ms since epoch, the proposer's clock). */
    since: time,
    /** For "open": when it may move to half-open; 0 otherwise. */
    until: time.default(0),
    /** Consecutive trips, for exponential backoff of openFor; 0 once closed. */
    trips: z.int().min(0).default(0),
    /** "open"/"closed": an operator pinned it (a new leader keeps it pinned); "auto": the rules decide. */
    override: z.enum(BREAKER_OVERRIDES).default("auto"),
  }),
  Drain: z.strictObject({ v: z.literal(1), type: z.literal("Drain"), pool: poolName, member: memberId }),
  Undrain: z.strictObject({ v: z.literal(1), type: z.literal("Undrain"), pool: poolName, member: memberId }),
  SetPoolSettings: z.strictObject({
    v: z.literal(1),
    type: z.literal("SetPoolSettings"),
    pool: poolName,
    /** Top-level settings replace; object settings (breaker, retry, ...) merge one level deep; null removes. */
    settings: z.record(z.string(), z.unknown()),
  }),
  /**
   * A reload's few changed members (config/state/routing-patch.ts): per pool, splices of the
   * committed member list, applied in order; `base` is the digest of the committed routing
   * they were computed against (routing-digest.ts), and any other routing refuses them.
   */
  PatchRouting: z.strictObject({
    v: z.literal(1),
    type: z.literal("PatchRouting"),
    base: z.string().min(1).max(64),
    pools: z.record(
      poolName,
      z.strictObject({
        edits: z
          .array(z.strictObject({ at: z.int().min(0), remove: z.int().min(0), add: z.array(memberSchema) }))
          .min(1),
      }),
    ),
  }),
} satisfies Record<CommandType, z.ZodType>;

type Schemas = typeof commandSchemas;
/** A validated, normalized command. */
export type Command = { [K in CommandType]: z.output<Schemas[K]> }[CommandType];
/** What a proposer may write (addresses as "host:port", durations as strings, ...). */
export type CommandInput = { [K in CommandType]: z.input<Schemas[K]> }[CommandType];
export type CommandOf<K extends CommandType> = z.output<Schemas[K]>;

export type CommandResult =
  | { ok: true; command: Command }
  | { ok: false; error: string; errors: ConfigError[] };

function fail(errors: ConfigError[], prefix = ""): CommandResult {
  const error =
    prefix + errors.map((e) => (e.path === "" ? e.message : `${e.path}: ${e.message}`)).join("; ");
  return { ok: false, error, errors };
}

function one(path: string, expected: string, found: string, message: string): ConfigError[] {
  return [{ path, expected, found, message }];
}

/** The schema of one setting, with its default/optional wrappers removed. */
function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  let cur = s;
  for (;;) {
    const def = cur._zod.def as unknown as { type: string; innerType?: z.core.$ZodType };
    if ((def.type === "default" || def.type === "prefault" || def.type === "optional") && def.innerType) {
      cur = def.innerType;
    } else {
      return cur;
    }
  }
}

/**
 * Checks each patched value against its own field schema. Cross-field rules (timeout <=
 * interval ...) need the merged settings and are checked by apply.
 */
function checkSettingsPatch(settings: Record<string, unknown>): ConfigError[] {
  const errors: ConfigError[] = [];
  const shape = poolSchema.shape as Record<string, z.core.$ZodType>;
  for (const [key, value] of Object.entries(settings)) {
    if (!(PATCHABLE_SETTINGS as readonly string[]).includes(key)) {
      errors.push(
        ...one(
          `settings.${key}`,
          `one of ${PATCHABLE_SETTINGS.join(", ")}`,
          `"${key}"`,
          `"${key}" is not a run-time pool setting${didYouMean(key, PATCHABLE_SETTINGS)}`,
        ),
      );
      continue;
    }
    if (value === null) {
      if (!REMOVABLE.has(key))
        errors.push(
          ...one(
            `settings.${key}`,
            "a value (only balanceFactor, healthCheck, passiveEjection can be removed)",
            "null",
            `${key} cannot be removed`,
          ),
        );
      continue;
    }
    const inner = unwrap(shape[key]);
    const innerDef = inner._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType> };
    // An object setting is a partial patch: check only the fields given.
    if (innerDef.type === "object") {
      const objShape = innerDef.shape ?? {};
      if (typeof value !== "object" || Array.isArray(value)) {
        errors.push(...one(`settings.${key}`, "a mapping", typeof value, `expected a mapping for ${key}`));
        continue;
      }
      for (const [sub, subValue] of Object.entries(value as Record<string, unknown>)) {
        const subSchema = objShape[sub];
        if (subSchema === undefined) {
          const known = Object.keys(objShape);
          errors.push(
            ...one(
              `settings.${key}.${sub}`,
              `one of ${known.join(", ")}`,
              `"${sub}"`,
              `unknown key "${sub}"${didYouMean(sub, known)}`,
            ),
          );
          continue;
        }
        const r = z.safeParse(subSchema, subValue, { reportInput: true });
        if (!r.success)
          errors.push(...issuesToErrors(subSchema, r.error.issues, ["settings", key, sub]).map(strip));
      }
      continue;
    }
    const r = z.safeParse(inner, value, { reportInput: true });
    if (!r.success) errors.push(...issuesToErrors(inner, r.error.issues, ["settings", key]).map(strip));
  }
  return errors;
}

function strip<T extends ConfigError>(e: T): ConfigError {
  return { path: e.path, expected: e.expected, found: e.found, message: e.message };
}

/** Validates a command object (already decoded from JSON). */
export function validateCommandValue(value: unknown): CommandResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(
      one(
        "",
        "a JSON object {v, type, ...}",
        Array.isArray(value) ? "an array" : String(value),
        "a command must be a JSON object",
      ),
    );
  }
  const obj = value as Record<string, unknown>;
  if (obj.v !== COMMAND_VERSION) {
    return fail(
      one(
        "v",
        `${COMMAND_VERSION}`,
        JSON.stringify(obj.v) ?? "nothing",
        `unsupported command version ${JSON.stringify(obj.v) ?? "(missing)"}; this node understands v${COMMAND_VERSION}`,
      ),
    );
  }
  const type = obj.type;
  if (typeof type !== "string" || !(COMMAND_TYPES as readonly string[]).includes(type)) {
    const hint = typeof type === "string" ? didYouMean(type, COMMAND_TYPES) : "";
    return fail(
      one(
        "type",
        `one of ${COMMAND_TYPES.join(", ")}`,
        JSON.stringify(type) ?? "nothing",
        `unknown command type ${JSON.stringify(type) ?? "(missing)"}${hint}`,
      ),
    );
  }
  const schema = commandSchemas[type as CommandType];
  const r = z.safeParse(schema, value, { reportInput: true });
  if (!r.success) return fail(issuesToErrors(schema, r.error.issues).map(strip), `invalid ${type} command: `);
  const command = r.data as Command;
  if (command.type === "SetMembers") {
    const seen = new Set<string>();
    for (let i = 0; i < command.members.length; i++) {
      const id = command.members[i].id;
      if (seen.has(id))
        return fail(
          one(
            formatPath(["members", i, "id"]),
            "unique member ids",
            `"${id}"`,
            `duplicate member id "${id}"`,
          ),
          "invalid SetMembers command: ",
        );
      seen.add(id);
    }
  } else if (command.type === "SetHealth") {
    const seen = new Set<string>();
    for (let i = 0; i < command.health.length; i++) {
      const id = command.health[i].member;
      if (seen.has(id))
        return fail(
          one(
            formatPath(["health", i, "member"]),
            "each member once per batch",
            `"${id}"`,
            `member "${id}" appears twice in one batch`,
          ),
          "invalid SetHealth command: ",
        );
      seen.add(id);
    }
  } else if (command.type === "SetBreaker") {
    if (command.state === "open" && command.until < command.since) {
      return fail(
        one(
          "until",
          "a time >= since for an open breaker",
          String(command.until),
          "an open breaker needs until >= since",
        ),
        "invalid SetBreaker command: ",
      );
    }
    if (command.override !== "auto" && command.override !== command.state) {
      return fail(
        one(
          "override",
          `"auto" or "${command.state}" for a ${command.state} breaker`,
          `"${command.override}"`,
          "a pinned breaker must be in the state it is pinned to",
        ),
        "invalid SetBreaker command: ",
      );
    }
    if (command.state !== "open" && command.until !== 0) {
      return fail(
        one(
          "until",
          `0 for a ${command.state} breaker`,
          String(command.until),
          "only an open breaker has an until time",
        ),
        "invalid SetBreaker command: ",
      );
    }
  } else if (command.type === "SetPoolSettings") {
    if (Object.keys(command.settings).length === 0) {
      return fail(
        one("settings", "at least one setting", "an empty mapping", "SetPoolSettings changes nothing"),
        "invalid SetPoolSettings command: ",
      );
    }
    const errors = checkSettingsPatch(command.settings);
    if (errors.length > 0) return fail(errors, "invalid SetPoolSettings command: ");
  }
  return { ok: true, command };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes and validates command bytes; never throws. Use at propose time and again in apply. */
export function validateCommand(bytes: Uint8Array): CommandResult {
  if (bytes.byteLength > MAX_COMMAND_BYTES) {
    return fail(
      one("", `at most ${MAX_COMMAND_BYTES} bytes`, `${bytes.byteLength} bytes`, "command too large"),
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    const reason = errorText(err);
    return fail(
      one("", "a UTF-8 JSON command", "undecodable bytes", `command is not valid UTF-8 JSON: ${reason}`),
    );
  }
  return validateCommandValue(value);
}

/**
 * Why committed bytes that failed validation are a later version's command (a command version
 * or type this build does not know, or bytes that are not JSON at all), or undefined when they
 * are a command of this build that is merely invalid (rejected like any other). Every committed
 * command was validated by its proposer, so undecodable ones come from a newer proposer.
 */
export function laterVersionReason(bytes: Uint8Array): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return "a command that is not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return "a command that is not an object";
  const o = value as { v?: unknown; type?: unknown };
  if (o.v !== COMMAND_VERSION) return `command version ${JSON.stringify(o.v) ?? "(missing)"}`;
  if (typeof o.type !== "string" || !(COMMAND_TYPES as readonly string[]).includes(o.type))
    return `command type ${JSON.stringify(o.type) ?? "(missing)"}`;
  return undefined;
}

/** The command type of valid-looking bytes, without validating the rest (undefined otherwise). */
export function peekCommandType(bytes: Uint8Array): CommandType | undefined {
  try {
    const o = JSON.parse(decoder.decode(bytes)) as { type?: unknown } | null;
    const t = o?.type;
    return typeof t === "string" && (COMMAND_TYPES as readonly string[]).includes(t)
      ? (t as CommandType)
      : undefined;
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();

/** Encodes a command for proposal. The bytes still go through validateCommand. */
export function encodeCommand(command: CommandInput): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

// A leader's refusal of a forwarded command (RaftDriver vetForwarded), appended in its place: a
// Drain without pool or member and with a field no build's schema has, so every build's apply
// rejects it as invalid_command and changes nothing (its version and type are known ones, so
// no build takes it for a later version's). The proposer reads the leader's reason from it.
const REFUSAL_PREFIX = '{"v":1,"type":"Drain","refusedByLeader":';
const REFUSAL_BYTES = encoder.encode(REFUSAL_PREFIX);

/** The refusal command carrying `message`. */
export function encodeRefusal(message: string): Uint8Array {
  return encoder.encode(`${REFUSAL_PREFIX}${JSON.stringify(message)}}`);
}

/** The message of a refusal command, or undefined for any other bytes (a prefix test first). */
export function refusalIn(bytes: Uint8Array): string | undefined {
  if (bytes.length <= REFUSAL_BYTES.length) return undefined;
  for (let i = 0; i < REFUSAL_BYTES.length; i++) if (bytes[i] !== REFUSAL_BYTES[i]) return undefined;
  try {
    const o = JSON.parse(decoder.decode(bytes)) as { refusedByLeader?: unknown };
    return typeof o.refusedByLeader === "string" ? o.refusedByLeader : undefined;
  } catch {
    return undefined;
  }
}
