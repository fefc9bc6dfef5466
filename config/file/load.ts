// Loading the config file: YAML (with positions) -> ${ENV} interpolation -> schema +
// cross-field rules -> one list of every error, each with its path and line:column.
// Nothing here throws for bad input; callers get a ConfigResult.

import { accessSync, constants, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import { errorText } from "../coded-error.js";
import { checkStats, MAX_PEM_BYTES } from "./bounded-read.js";
import { type ConfigError, describeFound, formatPath } from "./config-error.js";
import { crossCheck } from "./cross-check.js";
import { duplicateKeyErrors } from "./duplicate-keys.js";
import { fastParse } from "./fast-yaml.js";
import { interpolateDocument } from "./interpolate.js";
import { locate } from "./locate.js";
import { readConfigText } from "./read-text.js";
import {
  configSchema,
  type RoutingConfig,
  routingSchema,
  type ShardgateConfig,
  setSchemaBaseDir,
} from "./schema.js";
import { checkConfigText } from "./text-limits.js";
import { issuesToErrors } from "./zod-issues.js";

export type ConfigResult = { ok: true; config: ShardgateConfig } | { ok: false; errors: ConfigError[] };
export type RoutingResult = { ok: true; routing: RoutingConfig } | { ok: false; errors: ConfigError[] };

export interface ParseOptions {
  /** Folder that relative file paths (listen.tls, cluster.dataDir) resolve against. */
  baseDir?: string;
}

type Obj = Record<PropertyKey, unknown>;

function getAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Obj)[seg];
  }
  return v;
}

function setAt(root: unknown, path: readonly PropertyKey[], value: unknown): void {
  const parent = getAt(root, path.slice(0, -1));
  if (typeof parent === "object" && parent !== null) (parent as Obj)[path[path.length - 1]] = value;
}

/**
 * An interpolated value is always a string; where the field wants a number or a boolean,
 * a string that spells one is converted ("weight: ${W}" with W=2 means 2).
 */
function coerceSubstituted(
  raw: unknown,
  issues: readonly { code: string; path: PropertyKey[]; expected?: unknown; input?: unknown }[],
  substituted: Set<string>,
): boolean {
  let changed = false;
  for (const iss of issues) {
    if (
      iss.code !== "invalid_type" ||
      typeof iss.input !== "string" ||
      !substituted.has(formatPath(iss.path))
    )
      continue;
    const text = iss.input.trim();
    if ((iss.expected === "number" || iss.expected === "int") && /^-?\d+(\.\d+)?$/.test(text)) {
      setAt(raw, iss.path, Number(text));
      changed = true;
    } else if (iss.expected === "boolean" && (text === "true" || text === "false")) {
      setAt(raw, iss.path, text === "true");
      changed = true;
    }
  }
  return changed;
}

function checkTlsFiles(
  raw: unknown,
  baseDir: string,
): Array<{ path: PropertyKey[]; expected: string; found: string; message: string }> {
  const out: Array<{ path: PropertyKey[]; expected: string; found: string; message: string }> = [];
  for (const which of ["cert", "key"] as const) {
    const p = getAt(raw, ["listen", "tls", which]);
    if (typeof p !== "string" || p.trim() === "") continue;
    const full = isAbsolute(p) ? p : resolve(baseDir, p);
    try {
      accessSync(full, constants.R_OK);
      const bad = checkStats(full, statSync(full), MAX_PEM_BYTES);
      if (bad !== null) throw bad;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      // bounded-read.ts's refusals say what the file is: "<path>: not a regular file (a FIFO)"
      const what = code === "ENOTREG" || code === "EFBIG" ? (err as Error).message : `${full} (${code})`;
      out.push({
        path: ["listen", "tls", which],
        expected: "a readable file",
        found: `${JSON.stringify(p)} (${code})`,
        message: `cannot read TLS ${which} file ${what}: expected a readable file`,
      });
    }
  }
  return out;
}

/**
 * Parses config text. `sourceName` names the text (a file path or "<stdin>"); when it is a
 * path, relative file paths inside resolve against its folder unless options.baseDir says
 * otherwise. `env` feeds ${VAR} interpolation. Never throws.
 */
export function parseConfig(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
  sourceName = "<config>",
  options: ParseOptions = {},
): ConfigResult {
  const baseDir =
    options.baseDir ?? (sourceName.startsWith("<") ? process.cwd() : dirname(resolve(sourceName)));
  try {
    return parseConfigText(text, env, baseDir);
  } catch (err) {
    // A bug or a pathological input (e.g. nesting deep enough to exhaust the stack).
    const reason = errorText(err);
    return {
      ok: false,
      errors: [
        {
          path: "",
          expected: "a loadable config",
          found: reason,
          message: `could not load config: ${reason}`,
        },
      ],
    };
  }
}

function parseConfigText(text: string, env: NodeJS.ProcessEnv, baseDir: string): ConfigResult {
  const limit = checkConfigText(text);
  if (limit !== null) {
    const e: ConfigError = { path: "", expected: limit.expected, found: limit.found, message: limit.message };
    if (limit.line !== undefined) e.line = limit.line;
    return { ok: false, errors: [e] };
  }
  // The fast way first (fast-yaml.ts): a valid file needs no syntax tree. Anything it declines
  // or that fails validation is parsed again below, the full way, for positioned errors.
  const fast = fastParse(text, env);
  if (fast !== null) {
    const v = validateRaw(fast.value, fast.substituted, baseDir);
    if (v.parsed.success && v.found.length === 0) return { ok: true, config: v.parsed.data };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    // Only the first syntax error is reliable; the parser's later ones cascade from it.
    const e = doc.errors[0];
    if (e.code === "DUPLICATE_KEY") {
      const dups = duplicateKeyErrors(text, lines);
      if (dups.length > 0) return { ok: false, errors: dups };
    }
    const line = e.linePos?.[0].line;
    const reason = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    const sourceLine = line === undefined ? "" : (text.split("\n")[line - 1] ?? "");
    const hint = /[{[].*\$\{/.test(sourceLine) ? ' (inside { } or [ ], quote values that contain "${")' : "";
    return {
      ok: false,
      errors: [
        {
          path: "",
          expected: "valid YAML",
          found: reason,
          message: `YAML syntax error: ${reason}${hint}`,
          line,
          column: e.linePos?.[0].col,
        },
      ],
    };
  }
  const protoKeys = prototypeKeys(doc, lines);
  if (protoKeys.length > 0) return { ok: false, errors: protoKeys };
  const interp = interpolateDocument(doc, env, lines);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = errorText(err);
    return {
      ok: false,
      errors: [{ path: "", expected: "valid YAML", found: reason, message: `YAML error: ${reason}` }],
    };
  }
  if (raw === null || raw === undefined || typeof raw !== "object" || Array.isArray(raw)) {
    const found = raw === null || raw === undefined ? "an empty file" : describeFound(raw);
    return {
      ok: false,
      errors: [
        {
          path: "",
          expected: "a mapping with at least pools and routes",
          found,
          message: `expected a mapping with at least pools and routes, found ${found}`,
          line: 1,
          column: 1,
        },
      ],
    };
  }

  const { parsed, found } = validateRaw(raw, interp.substituted, baseDir);
  const errors: ConfigError[] = [...interp.errors];
  const seen = new Set<string>();
  for (const e of found) {
    const id = `${e.path}\0${e.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const unset = interp.unset.get(e.path);
    const note =
      unset === undefined
        ? ""
        : ` (environment variable ${unset.join(", ")} ${unset.length === 1 ? "is" : "are"} not set)`;
    const pos = locate(doc, lines, e.rawPath, e.isKey);
    const error: ConfigError = {
      path: e.path,
      expected: e.expected,
      found: e.found + note,
      message: e.message + note,
    };
    if (pos !== undefined) {
      error.line = pos.line;
      error.column = pos.column;
    }
    errors.push(error);
  }
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, config: parsed.data };
}

interface RawFinding {
  path: string;
  expected: string;
  found: string;
  message: string;
  rawPath: PropertyKey[];
  isKey: boolean;
}

/** Schema (with substituted values coerced) and cross-field checks of a parsed file's value. */
function validateRaw(
  raw: object,
  substituted: Set<string>,
  baseDir: string,
): { parsed: ReturnType<typeof configSchema.safeParse>; found: RawFinding[] } {
  // Top-level "x-" keys are the user's own (a place to define YAML anchors), as in Compose files.
  for (const key of Object.keys(raw)) if (key.startsWith("x-")) delete (raw as Obj)[key];
  setSchemaBaseDir(baseDir);
  let parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success && coerceSubstituted(raw, parsed.error.issues as never, substituted)) {
    parsed = configSchema.safeParse(raw, { reportInput: true });
  }
  const found = [
    ...(parsed.success ? [] : issuesToErrors(configSchema, parsed.error.issues)),
    ...[...crossCheck(raw, true), ...checkTlsFiles(raw, baseDir)].map((c) => ({
      path: formatPath(c.path),
      expected: c.expected,
      found: c.found,
      message: c.message,
      rawPath: c.path,
      isKey: false,
    })),
  ];
  return { parsed, found };
}

/**
 * Keys that name an object prototype (`__proto__`): turned into JavaScript they would be
 * dropped or change the object's prototype, so `pools: {__proto__: ..., users: ...}` would
 * silently lose a pool. Refused with their path.
 */
function prototypeKeys(doc: ReturnType<typeof parseDocument>, lines: LineCounter): ConfigError[] {
  const out: ConfigError[] = [];
  visit(doc, {
    Pair(_key, pair, path) {
      if (!isScalar(pair.key) || pair.key.value !== "__proto__") return;
      const names: Array<string | number> = [];
      for (let i = 0; i < path.length; i++) {
        const node = path[i];
        if (isPair(node) && isScalar(node.key)) names.push(String(node.key.value));
        else if (isSeq(node) && i + 1 < path.length) names.push(node.items.indexOf(path[i + 1] as never));
      }
      names.push("__proto__");
      const where = formatPath(names);
      const range = pair.key.range;
      const pos = range == null ? undefined : lines.linePos(range[0]);
      const e: ConfigError = {
        path: where,
        expected: "a key other than __proto__",
        found: '"__proto__"',
        message: `"__proto__" is not allowed as a key`,
      };
      if (pos !== undefined) {
        e.line = pos.line;
        e.column = pos.col;
      }
      out.push(e);
    },
  });
  return out;
}

/** Reads and parses a config file; relative paths inside it resolve against its folder. */
export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ConfigResult> {
  return (await loadConfigFileText(path, env)).result;
}

/** loadConfigFile, plus the text the result was parsed from (null when unreadable). */
export async function loadConfigFileText(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ result: ConfigResult; text: string | null }> {
  let text: string;
  try {
    text = await readConfigText(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    const result: ConfigResult = {
      ok: false,
      errors: [
        {
          path: "",
          expected: "a readable config file",
          found: `${path} (${code})`,
          message: `cannot read config file ${path}: ${unreadableReason(code, err)}`,
        },
      ],
    };
    return { result, text: null };
  }
  return { result: parseConfig(text, env, path, { baseDir: dirname(resolve(path)) }), text };
}

/**
 * Validates and normalizes the replicated part of a config ({pools, routes}), raw or already
 * normalized. Used by the cluster state to check SetRouting commands.
 */
export function parseRouting(value: unknown): RoutingResult {
  const parsed = routingSchema.safeParse(value, { reportInput: true });
  const errors: ConfigError[] = [
    ...(parsed.success ? [] : issuesToErrors(routingSchema, parsed.error.issues)).map(
      ({ rawPath, isKey, ...e }) => {
        void rawPath;
        void isKey;
        return e;
      },
    ),
    ...crossCheck(value).map((c) => ({
      path: formatPath(c.path),
      expected: c.expected,
      found: c.found,
      message: c.message,
    })),
  ];
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, routing: parsed.data };
}

/** Why a config file could not be read, in words (the errno code for anything unusual). */
function unreadableReason(code: string, err: unknown): string {
  if (code === "ENOENT") return "no such file";
  // bounded-read.ts's refusals: "<path>: not a regular file (a FIFO)", "<path>: larger than 8 MiB (...)"
  if (code === "ENOTREG" || code === "EFBIG") {
    const m = (err as Error).message;
    return `${m.slice(m.indexOf(": ") + 2)} (${code})`;
  }
  if (code === "ELOOP") return "too many levels of symbolic links, a symlink loop (ELOOP)";
  if (code === "EISDIR") return "it is a directory, expected a file (EISDIR)";
  if (code === "EACCES" || code === "EPERM") return `permission denied (${code})`;
  return code;
}
