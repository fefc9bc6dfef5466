// upstream-early-answer.test.ts for members behind TLS (pools.P.tls): an upstream that answers
// before it read the upload and closes with the body unread (its kernel then sends RST) must see
// its answer relayed, not a 502. Such members always go through Node's https agent (the undici
// engine forwards plain members only), whose sockets did not get the read-before-write hold
// (proxy/forward/read-before-write-error.ts): found on the old code, most rounds answered 502
// upstream_reset. Both engine settings run, as a user would set them.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";
import { earlyAnswerCases, earlyAnswerer } from "../support/early-answer.js";
import { testSeed } from "../support/prng.js";
import { issueCert, makeCa } from "../support/test-ca.js";

earlyAnswerCases({
  seed: testSeed(413_443),
  rounds: 16,
  upstream: async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-early-tls-"));
    makeCa(dir);
    issueCert(dir, "member", "127.0.0.1", "IP:127.0.0.1");
    const server = createServer(
      { cert: readFileSync(join(dir, "member.pem")), key: readFileSync(join(dir, "member.key")) },
      earlyAnswerer,
    );
    return {
      server,
      poolLines: [`tls: { ca: ${join(dir, "ca.pem")} }`],
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  title: (engine) =>
    `${engine} setting, TLS member: a response sent whole before the upstream reset is relayed`,
  // The upstream closes with the body unread after answering.
  round: (random, engine, i) => {
    const status = random() < 0.5 ? 413 : 200;
    return { path: `/${status}/${engine}${i}`, status };
  },
});
