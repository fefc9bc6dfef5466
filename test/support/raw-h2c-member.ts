// A raw h2c member for tests of what a member may send that no well-behaved HTTP/2 server would:
// it sends its (empty) SETTINGS and never acknowledges ours (so nghttp2 does not yet hold it to
// our header list limit), reads only HEADERS frames, and answers each with the frames the test
// gives for that stream.

import { type FrameScriptedH2cMember, startFrameScriptedH2cMember } from "./frame-scripted-h2c-member.js";
import { frame } from "./h2-frames.js";

/** `:status 200` and `x-ok: 1` (literal without indexing). */
export const SMALL_HEAD = Buffer.concat([
  Buffer.from([0x88, 0x00, 4]),
  Buffer.from("x-ok"),
  Buffer.from([1]),
  Buffer.from("1"),
]);

/** The frames of a small whole answer on `stream`: SMALL_HEAD and a 2-byte body "ok". */
export function smallAnswer(stream: number): Buffer {
  return Buffer.concat([frame(1, 0x4, stream, SMALL_HEAD), frame(0, 0x1, stream, Buffer.from("ok"))]);
}

export type RawH2cMember = FrameScriptedH2cMember;

/** Starts the member on 127.0.0.1; `answer(stream, nth)` gives the frames for the nth request (0-based). */
export function startRawH2cMember(answer: (stream: number, nth: number) => Buffer): Promise<RawH2cMember> {
  let requests = 0;
  // HEADERS opens a request; the rest is ignored.
  return startFrameScriptedH2cMember(
    (_nth, s) =>
      ({ type, stream }) => {
        if (type === 1) s.write(answer(stream, requests++));
      },
    { ackSettings: false },
  );
}
