// Incremental reloads (config/file/incremental-load.ts) against full loads: over seeded random
// edits of a file (members added, removed, changed, duplicated, made invalid; blank and
// comment lines, edits outside the member lists), whenever the incremental load answers, the
// full load of the same text is valid and gives the same config; and it does answer for the
// plain member edits a reload of a big pool makes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type AcceptedLoad, acceptedLoad, incrementalLoad } from "../../config/file/incremental-load.js";
import { parseConfig } from "../../config/file/load.js";
import { seededRandom, testSeed } from "../support/prng.js";

const PATH = "/tmp/sg-incremental/config.yaml";
const ENV = { SG_PORT: "7001" };

function member(i: number, port: number, weight?: number): string {
  return `      - { id: m${i}, address: "127.0.0.1:${port}"${weight === undefined ? "" : `, weight: ${weight}`} }`;
}

function render(a: readonly string[], b: readonly string[], algorithm: string, extra: string): string {
  return [
    "# scale file",
    "admin:",
    "  token: t0-0123456789abcdef",
    "pools:",
    "  big:",
    `    algorithm: ${algorithm}`,
    "    members:",
    ...a,
    "    healthCheck:",
    "      path: /h",
    "  other:",
    "    members:",
    ...b,
    "  envy:",
    "    members:",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a config file's ${VAR} reference
    '      - { id: e1, address: "127.0.0.1:${SG_PORT}" }',
    "routes:",
    "  - match: { pathPrefix: / }",
    "    pool: big",
    "    key: [ip]",
    extra,
  ].join("\n");
}

function full(text: string, env = ENV) {
  return parseConfig(text, env, PATH, { baseDir: "/tmp/sg-incremental" });
}

test("incremental loads equal full loads over seeded random edits", () => {
  const seed = testSeed(16_0617);
  const rnd = seededRandom(seed);
  let next = 0;
  const lists = [
    Array.from({ length: 150 }, () => member(next, 1000 + next++)),
    Array.from({ length: 5 }, () => member(next, 1000 + next++)),
  ];
  let algorithm = "ring";
  let extra = "";
  const first = full(render(lists[0], lists[1], algorithm, extra));
  assert.ok(first.ok, JSON.stringify(!first.ok && first.errors));
  let accepted: AcceptedLoad = acceptedLoad(
    PATH,
    ENV,
    render(lists[0], lists[1], algorithm, extra),
    first.config,
  );
  let answered = 0;
  for (let step = 0; step < 300; step++) {
    const why = `seed ${seed} step ${step}`;
    const which = rnd() < 0.8 ? 0 : 1;
    const list = lists[which].slice();
    const at = Math.floor(rnd() * (list.length + 1));
    const last = Math.min(at, list.length - 1);
    const op = Math.floor(rnd() * 14);
    let nextAlgorithm = algorithm;
    let nextExtra = extra;
    if (op <= 3) list.splice(at, 0, member(next, 1000 + next++));
    else if (op <= 5 && list.length > 1) list.splice(last, 1 + Math.floor(rnd() * 2));
    else if (op === 6) list[last] = member(next++, 2000 + step, 1 + Math.floor(rnd() * 3));
    else if (op === 7)
      list.splice(at, 0, list[0]); // a duplicate id: invalid
    else if (op === 8)
      list.splice(at, 0, '      - { id: bad, address: "nowhere" }'); // invalid address
    else if (op === 9)
      list.splice(at, 0, ""); // a blank line inside the list: valid, taken (the same config)
    else if (op === 10) list.splice(at, 0, "      # a comment");
    else if (op === 11) nextAlgorithm = algorithm === "ring" ? "maglev" : "ring";
    else if (op === 12) nextExtra = extra === "" ? "# trailing comment" : "";
    else list.splice(at, 0, `      - { id: w${next++}, address: "127.0.0.1:1", weight: 0 }`); // invalid weight
    if (list.length === 0) continue;
    const edited =
      which === 0
        ? render(list, lists[1], nextAlgorithm, nextExtra)
        : render(lists[0], list, nextAlgorithm, nextExtra);
    const fullResult = full(edited);
    const inc = incrementalLoad(accepted, PATH, ENV, edited);
    if (inc !== null) {
      answered++;
      assert.ok(
        fullResult.ok,
        `${why}: incremental took a text the full load refuses: ${JSON.stringify(!fullResult.ok && fullResult.errors)}`,
      );
      assert.deepEqual(inc, fullResult.config, why);
    }
    // Blank and comment lines inside a list are probes only here (this file's lists stay one
    // line per member); incremental-load-shapes.test.ts keeps them in its lists.
    if (fullResult.ok && op !== 9 && op !== 10) {
      // The next step starts from this text, and from the incremental config when there was one.
      lists[which] = list;
      algorithm = nextAlgorithm;
      extra = nextExtra;
      accepted = acceptedLoad(PATH, ENV, edited, inc ?? fullResult.config);
    }
    // An invalid edit is dropped, as a refused reload keeps the running config.
  }
  assert.ok(answered >= 60, `seed ${seed}: the incremental path answered only ${answered} of 300 edits`);
});

test("a changed environment, path or edit outside the member lists is declined", () => {
  const a = Array.from({ length: 10 }, (_, i) => member(i, 1000 + i));
  const text = render(a, [member(99, 1099)], "ring", "");
  const r = full(text);
  assert.ok(r.ok);
  const acc = acceptedLoad(PATH, ENV, text, r.config);
  const edited = render([...a, member(50, 1050)], [member(99, 1099)], "ring", "");
  assert.notEqual(incrementalLoad(acc, PATH, ENV, edited), null, "a plain member edit is taken");
  assert.equal(incrementalLoad(acc, PATH, { SG_PORT: "7002" }, edited), null, "the environment changed");
  assert.equal(incrementalLoad(acc, `${PATH}.other`, ENV, edited), null, "another file");
  assert.equal(
    incrementalLoad(acc, PATH, ENV, render(a, [member(99, 1099)], "maglev", "")),
    null,
    "pool settings",
  );
  assert.equal(
    incrementalLoad(acc, PATH, ENV, text.replace("token: t0-0123456789abcdef", "token: t1-0123456789abcdef")),
    null,
    "admin token",
  );
  assert.equal(incrementalLoad(acc, PATH, ENV, text), r.config, "the same text is the same config");
});
