// A SIGHUP that arrives while `start` is still starting (config management reloading every
// host at once, a HUP storm) found no handler and terminated the process: Node's default for
// SIGHUP. The CLI holds it from its first line; once the app runs, a held one becomes a
// reload (the file may have changed after start read it). Kept tiny: the CLI imports it
// before loading any command.

let held = false;
let pending = false;

function onHup(): void {
  pending = true;
}

/** Remembers SIGHUPs instead of dying of them (idempotent). */
export function holdHup(): void {
  if (held) return;
  held = true;
  process.on("SIGHUP", onHup);
}

/** Stops holding; true when a SIGHUP arrived meanwhile. */
export function releaseHup(): boolean {
  if (held) process.off("SIGHUP", onHup);
  held = false;
  const was = pending;
  pending = false;
  return was;
}
