// The refused paths of the HTTP/1 listener that answer raw on the socket Node hands over, with
// the client's upload still arriving: a TRACE or a badly framed head sent as an upgrade, and a
// CONNECT (its tunnel payload following), and an upgrade whose member refused the connection.
// Each was answered with socket.end(...) and nobody read
// the socket again: the upload stalled once the buffers filled, and the close then came with the
// client's bytes unread, so the kernel sent RST and a client that reads its answer only after
// uploading (curl, most upload code) saw a reset or nothing instead of the 405/501. Tried from the
// outside: a real shardgate process, a raw client that uploads a few MiB with its read side paused
// and reads only once its last write is handed to the kernel. They now linger as the answered
// paths do (linger-close.ts): FIN, read and drop the rest within nginx's bounds.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { uploadThenRead } from "../support/late-reader.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(2026_1207);
const ROUNDS = 6;

let sg: RunningShardgate;

before(async () => {
  // The member's address refuses connections (port 9, discard, is closed on loopback): only the
  // upgrade case dials it.
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:9" }]
    breaker: { consecutiveFailures: 100000, minRequests: 100000 }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
    onMissingKey: reject
`);
});

after(async () => {
  await stopAll();
});

const CASES: Record<string, { head: (size: number, i: number) => string; want: string }> = {
  // The upgrade event's refusal: TRACE, then a transfer coding the proxy cannot forward.
  "TRACE upgrade": {
    head: (size, i) =>
      `TRACE /t${i} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: upgrade\r\nUpgrade: websocket\r\ncontent-length: ${size}\r\n\r\n`,
    want: "HTTP/1.1 405 ",
  },
  "gzip-chunked upgrade": {
    head: (_size, i) =>
      `POST /g${i} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: upgrade\r\nUpgrade: websocket\r\ntransfer-encoding: gzip, chunked\r\n\r\n`,
    want: "HTTP/1.1 501 ",
  },
  // An upgrade forwarded to a member that refuses the connection: the engine's error answer is
  // written raw on the socket (DataPlane.fail with no ServerResponse), the upload still arriving.
  // The handshake announces no body (one that does is refused 400 before any member is dialled:
  // websocket-upgrade-body.test.ts); the bytes are the client's early tunnel bytes.
  "upgrade to a refusing member": {
    head: (_size, i) =>
      `GET /ws${i} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n`,
    // 502 upstream_connect, or 503 once the instance skips the refusing member locally.
    want: "HTTP/1.1 50",
  },
  // CONNECT: everything after its head is the tunnel's payload, never read.
  CONNECT: {
    head: () => "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    want: "HTTP/1.1 405 ",
  },
};

for (const [name, c] of Object.entries(CASES)) {
  test(`${name}: the refusal reaches a client that reads it after uploading`, {
    timeout: 300_000,
  }, async () => {
    const port = Number(new URL(sg.httpUrl).port);
    const random = seededRandom(SEED);
    const lost: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const size = 2 * 1024 * 1024 + Math.floor(random() * 4 * 1024 * 1024);
      const r = await uploadThenRead({ port, head: c.head(size, i), size, giveUpMs: 20_000 });
      if (!r.reply.startsWith(c.want))
        lost.push(`${size} B: ${JSON.stringify(r.reply.slice(0, 40))} ${r.writeError}`);
    }
    assert.deepEqual(lost, [], `${name}: ${lost.length} of ${ROUNDS} answers lost; ${seedNote(SEED)}`);
  });
}
