// Incremental reloads (config/file/incremental-load.ts) of member lists in any block-sequence
// shape: one-line flow items, block-style items of several lines (keys in any order, comments
// inside), blank and comment lines between items, mixed in one list. Over seeded random edits,
// valid and invalid, whenever the incremental load answers, the full load of the same text is
// valid and gives the same config; and through the load worker (a real file, reloaded as
// SIGHUP does), every reload's answer, config or errors, is exactly the full load's.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type AcceptedLoad, acceptedLoad, incrementalLoad } from "../../config/file/incremental-load.js";
import { loadConfigFile, parseConfig } from "../../config/file/load.js";
import { loadConfigFileOffThread } from "../../config/file/load-off-thread.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";

const dir = mkdtempSync(join(tmpdir(), "sg-inc-shapes-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const PATH = join(dir, "config.yaml");
const ENV = { SG_PORT: "7001" };

/** A list entry: one item's lines, or one filler line. */
type Entry = { readonly item: string | null; readonly lines: readonly string[] };

const I = "      "; // the items' indentation under `    members:`

function flow(id: string, port: number, weight?: number): Entry {
  const w = weight === undefined ? "" : `, weight: ${weight}`;
  return { item: id, lines: [`${I}- { id: ${id}, address: "127.0.0.1:${port}"${w} }`] };
}

function block(rnd: () => number, id: string, port: number, weight?: number): Entry {
  const fields = [`id: ${id}`, rnd() < 0.5 ? `address: "127.0.0.1:${port}"` : `address: 127.0.0.1:${port}`];
  if (weight !== undefined) fields.push(`weight: ${weight}`);
  if (rnd() < 0.3) fields.reverse();
  const lines = fields.map((f, k) => `${I}${k === 0 ? "- " : "  "}${f}${rnd() < 0.1 ? "  # note" : ""}`);
  if (rnd() < 0.15) lines.splice(1, 0, `${I}  # inside the item`);
  return { item: id, lines };
}

function filler(rnd: () => number): Entry {
  return { item: null, lines: [pick(rnd, ["", `${I}# a comment`, "# at column 0", `${I}  # deeper`])] };
}

function render(list: readonly Entry[], algorithm: string): string {
  return [
    "# scale file",
    "admin:",
    "  token: t0-0123456789abcdef",
    "pools:",
    "  big:",
    `    algorithm: ${algorithm}`,
    "    members:",
    ...list.flatMap((e) => e.lines),
    "    healthCheck:",
    "      path: /h",
    "  envy:",
    "    members:",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a config file's ${VAR} reference
    '      - { id: e1, address: "127.0.0.1:${SG_PORT}" }',
    "routes:",
    "  - match: { pathPrefix: / }",
    "    pool: big",
    "    key: [ip]",
    "",
  ].join("\n");
}

function full(text: string) {
  return parseConfig(text, ENV, PATH, { baseDir: dir });
}

/** Kinds of edit; the invalid ones and the valid-but-declined ones are dropped after the step. */
const EDITS = [
  "add",
  "add",
  "add",
  "remove",
  "remove",
  "replace",
  "filler",
  "unfill",
  "duplicate-id",
  "bad-address",
  "zero-weight",
  "bad-indent",
  "open-quote",
  "unknown-key",
  "anchor",
  "env-ref",
  "reindent",
  "multiline-flow",
  "dash-alone",
  "doc-marker",
  "tab",
  "algorithm",
] as const;

test("block, flow, mixed and commented member lists: incremental loads equal full loads, errors are the full load's", async () => {
  const seed = testSeed(16_0618);
  const rnd = seededRandom(seed);
  let next = 0;
  const fresh = (): Entry => {
    const id = `m${next}`;
    const port = 1000 + next++;
    const weight = rnd() < 0.3 ? 1 + Math.floor(rnd() * 3) : undefined;
    return rnd() < 0.6 ? block(rnd, id, port, weight) : flow(id, port, weight);
  };
  let list: Entry[] = [];
  for (let i = 0; i < 120; i++) list.push(i % 17 === 5 ? filler(rnd) : fresh());
  let algorithm = "ring";
  let text = render(list, algorithm);
  writeFileSync(PATH, text);
  const first = full(text);
  assert.ok(first.ok, JSON.stringify(!first.ok && first.errors));
  const viaWorker = await loadConfigFileOffThread(PATH, ENV);
  assert.ok(viaWorker.ok);
  let accepted: AcceptedLoad = acceptedLoad(PATH, ENV, text, first.config);
  const answered = new Map<string, number>();
  const refused = new Set<string>();
  for (let step = 0; step < 160; step++) {
    const why = `seed ${seed} step ${step}`;
    const edit = pick(rnd, EDITS);
    const at = Math.floor(rnd() * (list.length + 1));
    const items = list.filter((e) => e.item !== null);
    const some = items[Math.floor(rnd() * items.length)];
    const id = `x${next}`;
    const port = 3000 + next++;
    let edited = list.slice();
    let nextAlgorithm = algorithm;
    switch (edit) {
      case "add":
        edited.splice(at, 0, fresh());
        break;
      case "remove": {
        const k = edited.indexOf(some);
        if (items.length > 2) edited.splice(k, 1);
        break;
      }
      case "replace":
        edited[edited.indexOf(some)] =
          rnd() < 0.5
            ? block(rnd, some.item ?? id, port, 1 + Math.floor(rnd() * 3))
            : flow(some.item ?? id, port);
        break;
      case "filler":
        edited.splice(Math.max(1, at), 0, filler(rnd));
        break;
      case "unfill": {
        const k = edited.findIndex((e) => e.item === null);
        if (k >= 0) edited.splice(k, 1);
        break;
      }
      case "duplicate-id":
        edited.splice(at, 0, block(rnd, some.item ?? "m0", port));
        break;
      case "bad-address":
        edited.splice(at, 0, { item: id, lines: [`${I}- id: ${id}`, `${I}  address: nowhere`] });
        break;
      case "zero-weight":
        edited.splice(at, 0, block(rnd, id, port, 0));
        break;
      case "bad-indent":
        edited.splice(at, 0, { item: id, lines: [`${I}- id: ${id}`, `${I}   address: "127.0.0.1:${port}"`] });
        break;
      case "open-quote":
        edited.splice(at, 0, { item: id, lines: [`${I}- id: ${id}`, `${I}  address: "127.0.0.1:${port}`] });
        break;
      case "unknown-key":
        edited.splice(at, 0, { item: id, lines: [...block(rnd, id, port).lines, `${I}  zone: a`] });
        break;
      case "anchor":
        edited.splice(at, 0, {
          item: id,
          lines: [`${I}- &a${id} { id: ${id}, address: "127.0.0.1:${port}" }`],
        });
        break;
      case "env-ref":
        edited.splice(at, 0, { item: id, lines: [`${I}- { id: ${id}, address: "127.0.0.1:\${SG_PORT}" }`] });
        break;
      case "reindent":
        edited = edited.map((e) => ({ item: e.item, lines: e.lines.map((l) => (l === "" ? l : `  ${l}`)) }));
        break;
      case "multiline-flow":
        edited.splice(at, 0, {
          item: id,
          lines: [`${I}- { id: ${id},`, `${I}    address: "127.0.0.1:${port}" }`],
        });
        break;
      case "dash-alone":
        edited.splice(at, 0, {
          item: id,
          lines: [`${I}-`, `${I}  id: ${id}`, `${I}  address: "127.0.0.1:${port}"`],
        });
        break;
      case "doc-marker":
        edited.splice(Math.max(1, at), 0, { item: null, lines: ["---"] });
        break;
      case "tab":
        edited.splice(at, 0, { item: id, lines: [`${I}- id: ${id}`, `${I}\taddress: "127.0.0.1:${port}"`] });
        break;
      case "algorithm":
        nextAlgorithm = algorithm === "ring" ? "maglev" : "ring";
        break;
    }
    const nextText = render(edited, nextAlgorithm);
    const fullResult = full(nextText);
    const inc = incrementalLoad(accepted, PATH, ENV, nextText);
    if (inc !== null) {
      answered.set(edit, (answered.get(edit) ?? 0) + 1);
      assert.ok(fullResult.ok, `${why} (${edit}): incremental took a text the full load refuses`);
      assert.deepEqual(inc, fullResult.config, `${why} (${edit})`);
    }
    if (["anchor", "env-ref", "reindent", "multiline-flow", "algorithm"].includes(edit)) {
      assert.ok(fullResult.ok, `${why} (${edit}) is a valid file`);
      assert.equal(inc, null, `${why}: ${edit} is declined to the full load`);
    }
    if (!fullResult.ok) refused.add(edit);

    // The same text reloaded through the load worker (incremental where it can): the full
    // load's answer exactly, config or errors.
    writeFileSync(PATH, nextText);
    const [worker, reference] = await Promise.all([
      loadConfigFileOffThread(PATH, ENV),
      loadConfigFile(PATH, ENV),
    ]);
    assert.equal(worker.ok, reference.ok, `${why} (${edit})`);
    if (worker.ok && reference.ok) assert.deepEqual(worker.config, reference.config, `${why} (${edit})`);
    if (!worker.ok && !reference.ok) assert.deepEqual(worker.errors, reference.errors, `${why} (${edit})`);

    if (fullResult.ok && !["anchor", "env-ref", "reindent", "multiline-flow"].includes(edit)) {
      list = edited;
      algorithm = nextAlgorithm;
      text = nextText;
      accepted = acceptedLoad(PATH, ENV, text, inc ?? fullResult.config);
    } else {
      // A refused reload keeps the running config; the worker still holds the last valid load.
      writeFileSync(PATH, text);
      const back = await loadConfigFileOffThread(PATH, ENV);
      assert.ok(back.ok, why);
    }
  }
  const counts = JSON.stringify(Object.fromEntries(answered));
  for (const edit of ["add", "remove", "replace", "filler", "unfill", "dash-alone"])
    assert.ok(
      (answered.get(edit) ?? 0) > 0,
      `seed ${seed}: no ${edit} edit was taken incrementally: ${counts}`,
    );
  for (const edit of [
    "duplicate-id",
    "bad-address",
    "zero-weight",
    "bad-indent",
    "open-quote",
    "unknown-key",
  ])
    assert.ok(refused.has(edit), `seed ${seed}: no ${edit} edit was made (or it was valid)`);
});
