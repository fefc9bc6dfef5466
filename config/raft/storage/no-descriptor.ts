// An error that says the process (EMFILE) or the system (ENFILE) has no file descriptor left:
// an open(2) that failed before anything reached the disk. Unlike a failed write or fsync it
// says nothing of the disk, so the log store and the driver wait or postpone instead of
// stopping Raft. (health/local-exhaustion.ts is the same list for the other rooms, which
// config/raft does not import.)

export function isNoDescriptor(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "EMFILE" || code === "ENFILE";
}
