// Errors raised by the file log store (reads outside the log throw the core's CompactedError /
// UnavailableError, as RaftStorage specifies). Callers branch on `code`; a StorageCorruptError means
// the node must not serve (the log can no longer be trusted), so it names the file and offset.

export type StorageErrorCode =
  | "STORAGE_CORRUPT"
  | "STORAGE_UNAVAILABLE"
  | "STORAGE_CLOSED"
  | "STORAGE_BAD_ARGUMENT";

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string) {
    super(message);
    this.name = "StorageError";
    this.code = code;
  }
}

/** A record that is not a torn tail failed its checks: stop the node, do not repair silently. */
export class StorageCorruptError extends StorageError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super("STORAGE_CORRUPT", `corrupt raft log: ${file} at byte offset ${offset}: ${reason}`);
    this.name = "StorageCorruptError";
    this.file = file;
    this.offset = offset;
  }
}
