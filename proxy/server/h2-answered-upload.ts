// An HTTP/2 answer that is complete while the client is still uploading: the stream is reset
// with NO_ERROR once the answer is out, as RFC 9113 section 8.1 allows a server that will read
// no more of the request. Node closes such a stream by itself only if no byte of the body was
// ever read; once the data plane had read some (piped it upstream), the stream stayed open
// after the answer until the client ended its upload or went away: a gRPC call answered
// DEADLINE_EXCEEDED or UNAVAILABLE mid-upload kept its stream (one of the connection's
// concurrent streams) and its access line (written when the stream closes) for as long as the
// client kept sending.
//
// When the answer is out: Node's compatibility response asks for trailers ('wantTrailers')
// after the last DATA frame and hands them over from its own listener, registered before this
// one; Node submits them on a setImmediate, so the reset goes on a later one (immediates run in
// order): reset at once, it went before them and the client lost its grpc-status. A response
// whose head ended the stream (a gRPC trailers-only answer, 204/205/304) is never asked for
// trailers: it is out at 'finish'.
//
// After the reset the request is resumed, what it holds discarded: a stream closed with NO_ERROR
// is destroyed (and 'close' emitted, which writes the access line) only once its readable side
// ended, and body bytes the data plane had stopped reading (unpiped from a failed attempt) kept
// it from ending: that stream never closed, even after the client's connection was gone.

import { constants, type Http2ServerRequest, type ServerHttp2Stream } from "node:http2";

const kRequest = Symbol("shardgate.h2answeredRequest");
type WithRequest = ServerHttp2Stream & { [kRequest]?: Http2ServerRequest };

/** Resets the request's stream (NO_ERROR) after its answer if the client has not ended its side by then. */
export function resetAfterAnswer(req: Http2ServerRequest): void {
  const stream = req.stream as WithRequest;
  stream[kRequest] = req;
  stream.on("wantTrailers", onWantTrailers);
  stream.on("finish", onFinish);
}

function onWantTrailers(this: ServerHttp2Stream): void {
  if (!bodyDone(this)) setImmediate(closeIfUploading, this);
}

function onFinish(this: ServerHttp2Stream): void {
  if (!bodyDone(this) && (this.sentTrailers !== undefined || headOnly(this)))
    setImmediate(closeIfUploading, this);
}

/** No body, or all of it read: the usual case, decided without a call into nghttp2. */
function bodyDone(stream: ServerHttp2Stream): boolean {
  return stream.endAfterHeaders || stream.readableEnded;
}

/** The answer was its head alone (sent with END_STREAM): no trailers will be asked for. */
function headOnly(stream: ServerHttp2Stream): boolean {
  const h = stream.sentHeaders;
  if (h === undefined) return false;
  if (h["grpc-status"] !== undefined) return true;
  const status = h[":status"];
  return status === 204 || status === 205 || status === 304;
}

function closeIfUploading(stream: WithRequest): void {
  if (stream.destroyed) return;
  if (!stream.closed) {
    // remoteClose: the client's END_STREAM arrived; the stream closes with the answer.
    if (stream.state.remoteClose === 1) return;
    stream.close(constants.NGHTTP2_NO_ERROR);
  }
  // Closed here or already (the request timeout's answer closes its stream first).
  stream[kRequest]?.resume();
}
