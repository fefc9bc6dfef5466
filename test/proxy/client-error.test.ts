// What the 'clientError' answer writes when the parser reports a FIN inside a request
// (HPE_INVALID_EOF_STATE): nothing, whether or not a response is attached to the socket.
// With none attached (an upstream's early answer already relayed, the FIN then cutting the rest
// of the body) a raw 400 went out after that answer; seen in CI in test/outside/half-close.

import assert from "node:assert/strict";
import { Duplex } from "node:stream";
import { test } from "node:test";
import { answerClientError } from "../../proxy/server/client-error.js";

/** A socket stand-in that records every byte written to it. */
function recordingSocket(): { socket: Duplex; written: () => string } {
  const chunks: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { socket, written: () => Buffer.concat(chunks).toString("latin1") };
}

function eofError(): NodeJS.ErrnoException {
  return Object.assign(new Error("Parse Error: Invalid EOF state"), { code: "HPE_INVALID_EOF_STATE" });
}

test("a FIN inside a request with no response attached: nothing written, the socket destroyed, counted client_gone", () => {
  const { socket, written } = recordingSocket();
  const seen: string[] = [];
  answerClientError(eofError(), socket, (code) => seen.push(code));
  assert.equal(written(), "");
  assert.equal(socket.destroyed, true);
  assert.deepEqual(seen, ["client_gone"]);
});

test("a FIN inside a request with a response in flight: nothing written, the socket destroyed", () => {
  const { socket, written } = recordingSocket();
  (socket as Duplex & { _httpMessage: unknown })._httpMessage = {
    headersSent: false,
    req: { complete: false },
  };
  answerClientError(eofError(), socket);
  assert.equal(written(), "");
  assert.equal(socket.destroyed, true);
});

test("a malformed request is still answered: a raw 400 on a closing connection", () => {
  const { socket, written } = recordingSocket();
  const err = Object.assign(new Error("Parse Error: Invalid method"), { code: "HPE_INVALID_METHOD" });
  answerClientError(err, socket);
  assert.match(written(), /^HTTP\/1\.1 400 /);
  socket.destroy();
});
