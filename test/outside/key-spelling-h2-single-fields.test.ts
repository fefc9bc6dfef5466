// A header key sent on two lines is one value on HTTP/1.1 and HTTP/2 alike, also for the fields
// node:http2 treats as single-valued (If-None-Match, Range, DNT, ...: its parser keeps only the
// first line, where node:http joins them with ", "). A raw HTTP/2 client writes the repeated
// lines (node:http2's own client refuses to); the member that served each request is learnt
// from its `x-probe` and compared with the one /admin/route names for "first, second".

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  h2Get,
  h2Session,
  type MemberServer,
  rawH1,
  rawH2Get,
  startNamingMember,
} from "../support/key-carriers.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(5322);
const random = seededRandom(SEED);
const FIELDS = ["if-none-match", "range", "dnt", "x-user-id"] as const;

function token(): string {
  return `t${Math.floor(random() * 36 ** 8).toString(36)}`;
}

describe(`repeated header lines are one key on HTTP/1.1 and HTTP/2 (${seedNote(SEED)})`, {
  timeout: 300_000,
}, () => {
  const seen = new Map<string, string>();
  const members: MemberServer[] = [];
  let sg: RunningShardgate;

  before(async () => {
    for (let i = 0; i < 5; i++) members.push(await startNamingMember(`m${i}`, seen));
    const list = members.map((m) => `      - { id: ${m.id}, address: "127.0.0.1:${m.port}" }`).join("\n");
    const routes = FIELDS.map(
      (f, i) =>
        `  - { match: { pathPrefix: /f${i}/ }, pool: users, key: [header:${f}], onMissingKey: reject }`,
    ).join("\n");
    sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: ""
pools:
  users:
    protocol: h2c
    members:
${list}
routes:
${routes}
`);
  });
  after(async () => {
    await stopAll();
    await Promise.all(members.map((m) => m.close()));
  });

  it("routes two lines of a field where one line holding both values goes, on either transport", async () => {
    const port = Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
    const wrong: string[] = [];
    let probes = 0;
    const session = h2Session(port);
    try {
      for (let round = 0; round < 6; round++) {
        for (const [i, field] of FIELDS.entries()) {
          const a = token();
          const b = token();
          const key = `${a}, ${b}`;
          const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(key)}`);
          assert.equal(r.status, 200, JSON.stringify(r.body));
          const owner = String((r.body as { member: unknown }).member);
          const path = `/f${i}/x`;
          const probe = (): string => `p${++probes}`;
          const check = (carrier: string, status: number, member: string | undefined): void => {
            if (status !== 200 || member !== owner)
              wrong.push(
                `${field}: ${JSON.stringify(key)} via ${carrier}: ${status} from ${member ?? "-"}, owner ${owner}`,
              );
          };
          let p = probe();
          const h1two = await rawH1(port, path, [`${field}: ${a}`, `${field}: ${b}`, `x-probe: ${p}`]);
          check("HTTP/1.1, two lines", h1two.status, h1two.member);
          p = probe();
          const h2two = await rawH2Get(port, path, [
            [field, a],
            [field, b],
            ["x-probe", p],
          ]);
          check("raw HTTP/2, two fields", h2two, seen.get(p));
          p = probe();
          const h2one = await h2Get(session, path, { [field]: key, "x-probe": p });
          check("node:http2, one field", h2one.status, h2one.member);
        }
      }
    } finally {
      session.close();
    }
    assert.equal(probes, 6 * FIELDS.length * 3);
    assert.deepEqual(wrong, [], `${wrong.length} answers strayed (${seedNote(SEED)}):\n${wrong.join("\n")}`);
  });
});
