// An upstream that answers before it read the request body and then closes (a 413 for an upload
// too large, a 200 from a handler that never reads): its complete response is in shardgate's
// hands, but closing with unread body bytes in its receive buffer makes its kernel send RST,
// and shardgate's write of the rest of the body fails. Tried from the outside: a real shardgate
// process per engine, one member, a raw TCP upstream that reads the head only, answers with a
// Content-Length and then resets (`resetAndDestroy()`) or closes with the body unread; a client
// uploads a body of a few hundred KiB. Found: shardgate answered 502 upstream_reset instead of
// the response it had received whole, some of the time (a race between the parser delivering
// the response and the body write's ECONNRESET). A proxy relays a response it received whole
// (nginx and Envoy do); the access log carries the upstream's status and no error.

import { createServer } from "node:net";
import { earlyAnswerCases, earlyAnswerer } from "../support/early-answer.js";
import { testSeed } from "../support/prng.js";

earlyAnswerCases({
  seed: testSeed(413_2026),
  rounds: 24,
  upstream: async () => ({ server: createServer(earlyAnswerer), poolLines: [] }),
  title: (engine) => `${engine}: a response the upstream sent whole before resetting is relayed, not a 502`,
  // How the upstream leaves after answering: "/rst/..." resets, "/close/..." closes with the body unread.
  round: (random, engine, i) => {
    const how = random() < 0.5 ? "rst" : "close";
    const status = random() < 0.5 ? 413 : 200;
    return { path: `/${how}/${status}/${engine}${i}`, status };
  },
});
