// The wire codec: round trips, and malformed or forged input always fails with CodecError.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CodecError,
  carriesLevel,
  decodeConfChange,
  decodeMessages,
  encodeConfChange,
  encodeMessages,
  LEVEL_SNAPSHOT_RETIRED,
  MESSAGE_TYPES,
  type Message,
  newMessage,
  Prng,
  RELEASED_LEVEL,
} from "../../config/raft/core/index.js";
import type { ConfState, Entry, RetiredState } from "../../config/raft/types.js";
import { testSeed } from "../support/prng.js";

function randomBytes(rng: Prng, max: number): Uint8Array {
  const b = new Uint8Array(rng.int(max + 1));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  return b;
}

/** A retired list a history could give for a snapshot of voters a, b and learner c. */
const RETIRED: RetiredState = {
  retired: [
    ["a", ["a1", "a2"]],
    ["c", ["c0"]],
  ],
  departed: [["z", ["z1"], "z2"]],
  trusted: [["b", "b7"]],
};

function randomMessage(rng: Prng): Message {
  const type = MESSAGE_TYPES[rng.int(MESSAGE_TYPES.length)];
  const index = rng.int(1000);
  const entries: Entry[] = [];
  const n = type === "app" || type === "prop" ? rng.int(4) : 0;
  for (let i = 0; i < n; i++) {
    entries.push({
      term: 3,
      // Forwarded proposals are not numbered yet; log entries are consecutive.
      index: type === "prop" ? 0 : index + 1 + i,
      type: rng.int(2) ? "normal" : "conf",
      data: randomBytes(rng, 20),
    });
  }
  return newMessage({
    type,
    from: `node-${rng.int(9)}`,
    to: "ünïcode-✓",
    term: rng.int(1e9),
    logTerm: rng.int(5),
    index,
    // Responses carry the sender's feature level where other types carry a commit index.
    commit: carriesLevel(type) ? 0 : rng.int(1000),
    level: carriesLevel(type) ? rng.int(1001) : 0,
    reject: rng.int(2) === 1,
    rejectHint: rng.int(1000),
    force: rng.int(2) === 1,
    context: randomBytes(rng, 8),
    incarnation: rng.int(2) === 0 ? "" : `inc-${rng.int(99)}`,
    entries,
    snapshot:
      type === "snap" || rng.int(5) === 0
        ? {
            meta: {
              index: 7,
              term: 2,
              conf:
                rng.int(2) === 0
                  ? { voters: ["a", "b"], learners: ["c"] }
                  : {
                      voters: ["a", "b"],
                      learners: ["c"],
                      incarnations: { a: "a9", c: "c1" },
                      rejoin: ["c"],
                    },
              // The leader's retired list (level 8), when it sends one.
              ...(rng.int(2) === 0 ? { retired: RETIRED } : {}),
            },
            data: randomBytes(rng, 50),
          }
        : undefined,
  });
}

/** TEST_SEED replays or varies it; a failing run prints it and the re-run command. */
const seed = testSeed(20260101);

test("codec: every message type round-trips exactly", () => {
  const rng = new Prng(seed);
  for (let round = 0; round < 200; round++) {
    const msgs = Array.from({ length: rng.int(5) }, () => randomMessage(rng));
    const decoded = decodeMessages(encodeMessages(msgs));
    assert.deepEqual(decoded, msgs, `seed ${seed} round ${round}`);
  }
  assert.deepEqual(decodeMessages(encodeMessages([])), []);
});

test("codec: every truncation of a valid frame is rejected with CodecError", () => {
  const rng = new Prng(seed + 1);
  const bytes = encodeMessages([randomMessage(rng), randomMessage(rng)]);
  for (let len = 0; len < bytes.length; len++) {
    assert.throws(
      () => decodeMessages(bytes.subarray(0, len)),
      CodecError,
      `seed ${seed + 1}: length ${len} accepted`,
    );
  }
});

test("codec: random corruption either decodes cleanly or throws CodecError, never anything else", () => {
  const rng = new Prng(seed + 2);
  let rejected = 0;
  for (let round = 0; round < 3000; round++) {
    const bytes = encodeMessages([randomMessage(rng)]).slice();
    const flips = 1 + rng.int(4);
    for (let k = 0; k < flips; k++) bytes[rng.int(bytes.length)] = rng.int(256);
    try {
      const msgs = decodeMessages(bytes);
      // Whatever decodes must be structurally valid.
      for (const m of msgs) {
        assert.ok(MESSAGE_TYPES.includes(m.type));
        assert.ok(Number.isSafeInteger(m.term) && m.term >= 0);
      }
    } catch (e) {
      assert.ok(e instanceof CodecError, `seed ${seed + 2} round ${round}: threw ${String(e)}`);
      rejected++;
    }
  }
  assert.ok(rejected > 1000, `only ${rejected} corrupted frames were rejected`);
});

test("codec: specific forgeries are rejected", () => {
  const good = encodeMessages([
    newMessage({ type: "app", from: "a", to: "b", term: 1, index: 4, entries: [] }),
  ]);
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["bad magic", Uint8Array.from([0x58, ...good.subarray(1)])],
    ["bad version", Uint8Array.from([good[0], good[1], 9, ...good.subarray(3)])],
    ["trailing byte", Uint8Array.from([...good, 0])],
    ["huge count", Uint8Array.from([0x52, 0x46, 1, 0xff, 0xff, 0xff, 0xff])],
    [
      "unknown type",
      (() => {
        const b = good.slice();
        b[7] = 200;
        return b;
      })(),
    ],
  ];
  for (const [name, bytes] of cases) assert.throws(() => decodeMessages(bytes), CodecError, name);
  assert.throws(() => decodeMessages("nope" as unknown as Uint8Array), CodecError);
  // NaN / negative / fractional numbers.
  const bad = good.slice();
  new DataView(bad.buffer).setFloat64(3 + 4 + 1 + 2 + 1 + 2 + 1, Number.NaN);
  assert.throws(() => decodeMessages(bad), /term/);
  // Non-consecutive entries in an append.
  const gap = encodeMessages([
    newMessage({
      type: "app",
      from: "a",
      to: "b",
      index: 1,
      entries: [
        { term: 1, index: 2, type: "normal", data: new Uint8Array(0) },
        { term: 1, index: 2, type: "normal", data: new Uint8Array(0) },
      ],
    }),
  ]);
  assert.throws(() => decodeMessages(gap), /consecutive/);
  // The encoder refuses what it could not faithfully decode.
  assert.throws(
    () => encodeMessages([newMessage({ type: "app", from: "a", to: "b", term: -1 })]),
    CodecError,
  );
  assert.throws(
    () => encodeMessages([newMessage({ type: "app", from: "a".repeat(300), to: "b" })]),
    CodecError,
  );
});

test("codec: conf changes round-trip and malformed ones are rejected", () => {
  for (const type of ["addLearner", "addVoter", "removeNode"] as const) {
    assert.deepEqual(decodeConfChange(encodeConfChange({ type, node: "n-1" })), { type, node: "n-1" });
  }
  const good = encodeConfChange({ type: "addVoter", node: "x" });
  for (let len = 0; len < good.length; len++)
    assert.throws(() => decodeConfChange(good.subarray(0, len)), CodecError);
  assert.throws(() => decodeConfChange(Uint8Array.from([3, 0, 0, 1, 120])), /version/);
  const withInc = encodeConfChange({ type: "addLearner", node: "x", incarnation: "x1", rejoin: true });
  for (let len = 0; len < withInc.length; len++)
    assert.throws(() => decodeConfChange(withInc.subarray(0, len)), CodecError);
  assert.throws(
    () => decodeConfChange(Uint8Array.from([...withInc.subarray(0, withInc.length - 1), 2])),
    /rejoin/,
  );
  assert.throws(() => decodeConfChange(Uint8Array.from([1, 7, 0, 1, 120])), /type/);
  assert.throws(() => decodeConfChange(Uint8Array.from([...good, 1])), /trailing/);
  assert.throws(() => encodeConfChange({ type: "bogus" as never, node: "x" }), CodecError);
});

test("codec: a founder's frames (no incarnation anywhere) are the previous version's bytes", () => {
  // Flags 8 (incarnation) and 16 (conf extras) appear only when there is something to carry, so
  // the previous version, which refuses unknown flags, still reads a founder-only cluster.
  const m = newMessage({
    type: "snap",
    from: "a",
    to: "b",
    term: 2,
    snapshot: {
      meta: { index: 3, term: 2, conf: { voters: ["a", "b"], learners: [] } },
      data: new Uint8Array(1),
    },
  });
  const at = 3 + 4 + 1 + 3 + 3 + 5 * 8; // magic+version, count, type, from "a", to "b", 5 numbers
  const founder = encodeMessages([m]);
  assert.equal(founder[at], 4, "a founder's snapshot message sets flags other than 'snapshot'");
  const replaced = encodeMessages([{ ...m, incarnation: "b1" }]);
  assert.equal(replaced[at], 4 | 8);
  assert.equal(decodeMessages(replaced)[0].incarnation, "b1");
  assert.throws(() => decodeMessages(Uint8Array.from([...founder.subarray(0, at), 64])), CodecError);
});

/** A snap message of a founders' snapshot (a, b, c voters; b at "b2") carrying `retired`. */
function snapWith(retired: RetiredState): Message {
  const conf: ConfState = { voters: ["a", "b", "c"], learners: [], incarnations: { b: "b2" } };
  return newMessage({
    type: "snap",
    from: "a",
    to: "b",
    term: 2,
    snapshot: { meta: { index: 9, term: 2, conf, retired }, data: new Uint8Array(0) },
  });
}

const NONE: RetiredState = { retired: [], departed: [], trusted: [] };
const incs = (n: number): string[] => Array.from({ length: n }, (_, i) => `old-${i}`);

test("codec: a snapshot's retired list that no history could give is refused with the frame", () => {
  // Each is encoded as a leader would send it; the follower's decoder must refuse it (and the
  // driver then counts an undecodable payload and steps nothing of the frame).
  const forged: [string, RetiredState, RegExp][] = [
    ["a member the snapshot lacks", { ...NONE, retired: [["z", ["z1"]]] }, /of z, which is not a member/],
    ["a member listed as departed", { ...NONE, departed: [["c", ["c1"], "c2"]] }, /c listed as departed/],
    ["a trusted non-member", { ...NONE, trusted: [["z", "z1"]] }, /of z, which is not a member/],
    [
      "a member's current directory",
      { ...NONE, retired: [["b", ["b1", "b2"]]] },
      /b's current directory "b2"/,
    ],
    ["a founder's current directory", { ...NONE, retired: [["a", [""]]] }, /a's current directory ""/],
    ["a trusted current directory", { ...NONE, trusted: [["b", "b2"]] }, /trusted directory "b2"/],
    ["an empty trusted directory", { ...NONE, trusted: [["a", ""]] }, /trusted directory ""/],
    [
      "a member listed twice",
      {
        ...NONE,
        retired: [
          ["a", ["a1"]],
          ["a", ["a2"]],
        ],
      },
      /of a listed twice/,
    ],
    ["a directory listed twice", { ...NONE, retired: [["a", ["a1", "a1"]]] }, /listed twice/],
    ["17 directories of one member", { ...NONE, retired: [["a", incs(17)]] }, /17 retired incarnations/],
    [
      "65 departed members",
      { ...NONE, departed: Array.from({ length: 65 }, (_, i) => [`gone-${i}`, [], ""] as const) },
      /65 departed members/,
    ],
    ["an empty member id", { ...NONE, departed: [["", [], ""]] }, /empty id/],
  ];
  for (const [name, retired, why] of forged)
    assert.throws(() => decodeMessages(encodeMessages([snapWith(retired)])), why, name);
  for (const [name, retired, why] of forged)
    assert.throws(() => decodeMessages(encodeMessages([snapWith(retired)])), CodecError, `${name}: ${why}`);

  // Byte-level forgeries of a valid list (one retired member "a" with directory "xy"): the list
  // is the last thing before the (empty) snapshot data, so its counts sit at fixed offsets.
  const good = encodeMessages([snapWith({ ...NONE, retired: [["a", ["xy"]]] })]);
  assert.deepEqual(decodeMessages(good)[0].snapshot?.meta.retired, { ...NONE, retired: [["a", ["xy"]]] });
  const end = good.length;
  // Layout from the end: u32 data length, u32 trusted, u32 departed, then "a" ["xy"]: u16 1 'a',
  // u32 1, u16 2 'x' 'y', and before them u32 retired-member count.
  const retiredCount = end - 12 - (2 + 1 + 4 + 2 + 2) - 4;
  const patched = (at: number, bytes: number[]): Uint8Array => {
    const b = good.slice();
    b.set(bytes, at);
    return b;
  };
  const bytes: [string, Uint8Array, RegExp][] = [
    ["a huge member count", patched(retiredCount, [0xff, 0xff, 0xff, 0xff]), /exceeds the input size/],
    ["a huge departed count", patched(end - 12, [0x7f, 0xff, 0xff, 0xff]), /exceeds the input size/],
    ["a huge directory count", patched(retiredCount + 7, [0xff, 0xff, 0xff, 0xff]), /exceeds the input size/],
    // A count where a string is: the member count says 2, so the trusted count reads as an id.
    [
      "a count read as a string",
      patched(retiredCount, [0, 0, 0, 2]),
      /truncated|not a member|exceeds|empty id/,
    ],
    ["a directory that is not UTF-8", patched(end - 14, [0xff, 0xfe]), /not valid UTF-8/],
    ["a list cut short", good.subarray(0, end - 6), /truncated/],
  ];
  for (const [name, frame, why] of bytes) {
    assert.throws(() => decodeMessages(frame), CodecError, name);
    assert.throws(() => decodeMessages(frame), why, name);
  }
  // The flag without a snapshot to go with it.
  const app = encodeMessages([newMessage({ type: "app", from: "a", to: "b", term: 1 })]);
  const at = 3 + 4 + 1 + 3 + 3 + 5 * 8;
  assert.throws(
    () => decodeMessages(Uint8Array.from([...app.subarray(0, at), 32, ...app.subarray(at + 1)])),
    /without a snapshot/,
  );
});

test("codec: only a retired list sets flag 32, which a level-7 build refuses with the whole frame", () => {
  const at = 3 + 4 + 1 + 3 + 3 + 5 * 8;
  const carried = encodeMessages([snapWith(NONE)]);
  assert.equal(carried[at] & 32, 32, "the list (even an empty one) is flagged");
  const m = snapWith(NONE);
  const { index, term, conf } = m.snapshot!.meta;
  const bare = encodeMessages([{ ...m, snapshot: { meta: { index, term, conf }, data: new Uint8Array(0) } }]);
  assert.equal(bare[at] & ~31, 0, "a snapshot without a list sets only the flags level 7 knows");
  // As a level-7 (and the released) build reads: the flag is refused, the bare frame read.
  for (const level of [LEVEL_SNAPSHOT_RETIRED - 1, RELEASED_LEVEL]) {
    assert.throws(() => decodeMessages(carried, level), /unknown flags 52/);
    assert.equal(decodeMessages(bare, level)[0].snapshot?.meta.retired, undefined);
  }
  assert.deepEqual(decodeMessages(carried, LEVEL_SNAPSHOT_RETIRED)[0].snapshot?.meta.retired, NONE);
});

test("codec: a follower's forwarded proposal (entries not yet numbered) decodes as sent", () => {
  // The core forwards proposals with index-0 entries; the leader numbers them on append.
  // Rejecting them here silently lost every proposal made on a follower.
  const data = new TextEncoder().encode("set x 1");
  const prop = newMessage({
    type: "prop",
    from: "b",
    to: "a",
    term: 2,
    entries: [
      { term: 0, index: 0, type: "normal", data },
      { term: 0, index: 0, type: "normal", data },
    ],
  });
  const [decoded] = decodeMessages(encodeMessages([prop]));
  assert.equal(decoded.type, "prop");
  assert.deepEqual(
    decoded.entries.map((e) => [e.index, new TextDecoder().decode(e.data)]),
    [
      [0, "set x 1"],
      [0, "set x 1"],
    ],
  );
  // Log entries in an append must still be numbered.
  const app = newMessage({ type: "app", from: "a", to: "b", term: 2, index: 0, entries: [...prop.entries] });
  assert.throws(() => decodeMessages(encodeMessages([app])), /entry index 0/);
});
