// The logger every room writes to: the subset of a pino logger the code calls
// (`log.warn({ ...fields }, "message")`). pino satisfies it; tests pass a silent or a
// recording one. It lives beside the other shared pieces (address, coded errors) so that
// health/ and proxy/ name it the same way without importing each other.

export interface LogSink {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Writes nothing: the default where no logger was passed. */
export const SILENT_LOG: LogSink = { debug() {}, info() {}, warn() {}, error() {} };
