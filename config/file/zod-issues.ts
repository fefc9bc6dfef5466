// Turns zod issues into ConfigErrors: readable "expected"/"found" wording for each issue
// kind, one error per unknown key with a "did you mean" drawn from the schema's own keys.

import type { z } from "zod";
import { type ConfigError, describeFound, formatPath, makeError } from "./config-error.js";
import { didYouMean } from "./suggest.js";

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a mapping",
  record: "a mapping",
  array: "a list",
  nonoptional: "a value",
};

/** The object keys the schema allows at `path`, by walking wrappers, arrays and records. */
export function knownKeysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  let s: AnySchema | undefined = schema;
  let i = 0;
  while (s !== undefined) {
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case "optional":
      case "default":
      case "prefault":
      case "nullable":
        s = def.innerType as AnySchema;
        continue;
      case "pipe":
        s = def.in as AnySchema;
        continue;
      case "array":
        if (i >= path.length) return [];
        s = def.element as AnySchema;
        i++;
        continue;
      case "record":
        if (i >= path.length) return [];
        s = def.valueType as AnySchema;
        i++;
        continue;
      case "object": {
        const shape = def.shape as Record<string, AnySchema>;
        if (i >= path.length) return Object.keys(shape);
        s = shape[String(path[i])];
        i++;
        continue;
      }
      default:
        return [];
    }
  }
  return [];
}

function sizeWord(origin: string, n: number): string {
  if (origin === "array") return `${n} item${n === 1 ? "" : "s"}`;
  if (origin === "string") return `${n} character${n === 1 ? "" : "s"}`;
  return String(n);
}

function expectedFor(iss: Issue): string {
  // A message the schema wrote itself ("expected a prime number ...") beats generic wording.
  if (iss.message.startsWith("expected ")) return iss.message.slice("expected ".length);
  switch (iss.code) {
    case "invalid_type":
      return TYPE_WORDS[iss.expected] ?? String(iss.expected);
    case "too_small": {
      const min = Number(iss.minimum);
      if (iss.origin === "string" && min === 1) return "a non-empty string";
      if (iss.origin === "array" || iss.origin === "string") return `at least ${sizeWord(iss.origin, min)}`;
      return `${iss.origin === "int" ? "an integer" : "a number"} ${iss.inclusive ? ">=" : ">"} ${min}`;
    }
    case "too_big": {
      const max = Number(iss.maximum);
      if (iss.origin === "array" || iss.origin === "string") return `at most ${sizeWord(iss.origin, max)}`;
      return `${iss.origin === "int" ? "an integer" : "a number"} ${iss.inclusive ? "<=" : "<"} ${max}`;
    }
    case "invalid_value":
      return iss.values.length === 1
        ? JSON.stringify(iss.values[0])
        : `one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "custom": {
      const expected = (iss.params as { expected?: unknown } | undefined)?.expected;
      return typeof expected === "string" ? expected : iss.message.replace(/^expected /, "");
    }
    case "invalid_format":
    case "invalid_key":
    case "invalid_union":
    case "invalid_element":
    case "not_multiple_of":
    case "unrecognized_keys":
      return iss.message.replace(/^expected /, "");
  }
}

function hintFor(iss: Issue): string {
  if (iss.code === "invalid_value" && typeof iss.input === "string") {
    return didYouMean(
      iss.input,
      iss.values.filter((v): v is string => typeof v === "string"),
    );
  }
  return "";
}

/** Converts zod issues (parsed with `reportInput: true`) to ConfigErrors without positions. */
export function issuesToErrors(
  schema: AnySchema,
  issues: readonly Issue[],
  pathPrefix: readonly PropertyKey[] = [],
): Array<ConfigError & { rawPath: PropertyKey[]; isKey: boolean }> {
  const out: Array<ConfigError & { rawPath: PropertyKey[]; isKey: boolean }> = [];
  for (const iss of issues) {
    const rawPath = [...pathPrefix, ...iss.path];
    if (iss.code === "unrecognized_keys") {
      const known = knownKeysAt(schema, iss.path);
      for (const key of iss.keys) {
        const keyPath = [...rawPath, key];
        const hint = didYouMean(key, known);
        const expected = known.length > 0 ? `one of the keys ${known.join(", ")}` : "no other keys";
        const message = `unknown key "${key}"${hint}; expected ${expected}`;
        out.push({
          ...makeError(formatPath(keyPath), expected, `unknown key "${key}"`, message),
          rawPath: keyPath,
          isKey: true,
        });
      }
      continue;
    }
    if (iss.code === "invalid_key") {
      // Record keys (pool names): the path ends with the key itself; the inner issue says why.
      const inner = iss.issues[0];
      const keyPath = [...rawPath];
      const expected = inner === undefined ? "a valid key" : expectedFor(inner).replace(/^expected /, "");
      const found = `key ${describeFound(iss.input)}`;
      out.push({ ...makeError(formatPath(keyPath), expected, found), rawPath: keyPath, isKey: true });
      continue;
    }
    const expected = expectedFor(iss);
    const explicitFound =
      iss.code === "custom" ? (iss.params as { found?: unknown } | undefined)?.found : undefined;
    const found = typeof explicitFound === "string" ? explicitFound : describeFound(iss.input);
    const message =
      iss.code === "custom" && !iss.message.startsWith("expected ")
        ? `${iss.message}: expected ${expected}, found ${found}`
        : `expected ${expected}, found ${found}${hintFor(iss)}`;
    out.push({ ...makeError(formatPath(rawPath), expected, found, message), rawPath, isKey: false });
  }
  return out;
}
