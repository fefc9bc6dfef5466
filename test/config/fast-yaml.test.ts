// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests write ${VAR} references literally
// The fast way through a config file (js-yaml, config/file/fast-yaml.ts) must give exactly the
// value the full way (the `yaml` syntax tree, interpolated, turned into JavaScript) gives,
// for every text it accepts, and decline what it cannot read alike.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { LineCounter, parseDocument } from "yaml";
import { fastParse } from "../../config/file/fast-yaml.js";
import { interpolateDocument } from "../../config/file/interpolate.js";
import { parseConfig } from "../../config/file/load.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";
import { BARE, MINIMAL } from "./fixtures.js";

const ENV = { HOST: "10.0.0.9", PORT: "8080", TOKEN: "t0ken-t0ken", EMPTY: "" };

/** The full way's value of `text` (as load.ts builds it before validation), or an error. */
function fullWay(text: string, env: NodeJS.ProcessEnv): { value: unknown } | { error: string } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) return { error: doc.errors[0].message };
  const interp = interpolateDocument(doc, env, lines);
  if (interp.errors.length > 0) return { error: interp.errors[0].message };
  return { value: doc.toJS({ maxAliasCount: 100 }) };
}

function readmeYaml(): string[] {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
}

test("every README example and fixture the fast way accepts has the full way's value", () => {
  const texts = [MINIMAL, BARE, ...readmeYaml()];
  let fast = 0;
  for (const text of texts) {
    const f = fastParse(text, ENV);
    if (f === null) continue;
    fast++;
    const full = fullWay(text, ENV);
    assert.ok("value" in full, `the fast way accepted what the full way refuses:\n${text}`);
    assert.deepEqual(f.value, full.value, text);
  }
  // Most real files go the fast way (otherwise this test proves little).
  assert.ok(fast >= 3, `only ${fast} of ${texts.length} texts went the fast way`);
});

const TOKENS = [
  "0o17",
  "0o8",
  "0x1F",
  "0X1F",
  "0b101",
  "010",
  "1_000",
  "+12",
  "-7",
  "007",
  "1e3",
  "1E-2",
  "1.",
  ".5",
  "-.5e+3",
  "1.2.3",
  "yes",
  "no",
  "on",
  "off",
  "y",
  "n",
  "~",
  "null",
  "Null",
  "NULL",
  "nULL",
  "true",
  "True",
  "TRUE",
  "tRue",
  "false",
  "FALSE",
  ".inf",
  "-.Inf",
  "+.INF",
  ".nan",
  ".NaN",
  ".NAN",
  "2024-01-01",
  "2024-01-01T10:00:00Z",
  "12:30",
  "1:2:3",
  "=",
  "a b",
  "ip",
  "10.0.0.1:80",
  "'quoted 1'",
  '"dq \\t 2"',
  '"0x10"',
  "!!str 12",
  "!!int 12",
  "!!float 1",
  "!!bool true",
  "${HOST}:${PORT}",
  "${MISSING:-fallback}",
  "${EMPTY:-d}",
  "$${LITERAL}",
  "x${HOST}y",
];

test("random plain and quoted scalars resolve alike both ways (seeded)", () => {
  const seed = testSeed(1616);
  const random = seededRandom(seed);
  let compared = 0;
  for (let i = 0; i < 400; i++) {
    const scalars = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(random, TOKENS));
    const shape = Math.floor(random() * 3);
    const text =
      shape === 0
        ? scalars.map((s, k) => `k${k}: ${s}\n`).join("")
        : shape === 1
          ? `list:\n${scalars.map((s) => `  - ${s}\n`).join("")}`
          : `flow: { ${scalars.map((s, k) => `k${k}: ${s}`).join(", ")} }\n`;
    const f = fastParse(text, ENV);
    if (f === null) continue;
    const full = fullWay(text, ENV);
    assert.ok("value" in full, `seed ${seed}: the fast way accepted what the full way refuses:\n${text}`);
    assert.deepEqual(f.value, full.value, `seed ${seed}:\n${text}`);
    compared++;
  }
  assert.ok(compared > 300, `seed ${seed}: only ${compared} texts compared`);
});

test("texts whose meaning needs the syntax tree are declined, not guessed", () => {
  const declined: Array<[string, string]> = [
    ["alias", "x-a: &a { id: a }\npools: { p: { members: [*a] } }\n"],
    ["merge key", "x-a: &a { weight: 2 }\nm: { <<: *a, id: a }\n"],
    ["inline merge", "m: { <<: { weight: 2 }, id: a }\n"],
    ["__proto__ key", "pools: { __proto__: { members: [] } }\n"],
    ["complex key", "pools:\n  ? [a, b]\n  : { members: [] }\n"],
    ["duplicate key", "a: 1\na: 2\n"],
    ["syntax error", "a: [1, 2\n"],
    ["unknown tag", "a: !custom 1\n"],
    ["two documents", "a: 1\n---\nb: 2\n"],
    ["bad reference", "a: ${1X}\n"],
    ["unset variable", "a: ${NOT_SET_ANYWHERE}\n"],
    ["not a mapping", "- 1\n- 2\n"],
    ["empty", ""],
  ];
  for (const [what, text] of declined) assert.equal(fastParse(text, ENV), null, what);
});

test("an invalid file still gets its errors with line and column (the full way answers)", () => {
  const text = `pools:\n  p:\n    members:\n      - { id: a, address: "10.0.0.1:80" }\n      - { id: b, address: nowhere }\nroutes:\n  - pool: p\n    key: [ip]\n`;
  assert.notEqual(fastParse(text, ENV), null, "the text itself is readable the fast way");
  const r = parseConfig(text, ENV);
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  const e = r.errors.find((x) => x.path.startsWith("pools.p.members[1]"));
  assert.ok(e !== undefined, JSON.stringify(r.errors));
  assert.equal(e.line, 5, JSON.stringify(e));
});

test("a valid file loads to the same config the fast way and the full way", () => {
  // The same pool written so that one text goes the fast way and one (an alias) cannot.
  const body = (member: string) =>
    `pools:\n  p:\n    algorithm: maglev\n    members:\n${member}      - { id: b, address: "\${HOST}:\${PORT}", weight: 2 }\nroutes:\n  - pool: p\n    key: [header:x-k, ip]\n`;
  const fastText = `${body(`      - { id: a, address: "10.0.0.1:80" }\n`)}`;
  const fullText = `x-a: &a { id: a, address: "10.0.0.1:80" }\n${body("      - *a\n")}`;
  assert.notEqual(fastParse(fastText, ENV), null);
  assert.equal(fastParse(fullText, ENV), null);
  const a = parseConfig(fastText, ENV);
  const b = parseConfig(fullText, ENV);
  assert.ok(a.ok && b.ok, JSON.stringify([a, b]));
  assert.deepEqual(a.config, b.config);
});
