// Process-level wiring for a running App: SIGTERM/SIGINT drain and exit 0, SIGHUP reloads the
// config, and errors that escaped every handler are logged before anything else happens.
// Kept out of App so tests and the demo can run an App without owning the process.

import type { App } from "../app.js";
import { armStopDeadline, type StopDeadline } from "./stop-deadline.js";
import { reportStraySignalsTo } from "./stray-signals.js";

/** How long the exit waits for handles (log writes) after shutdown completed. */
const EXIT_GRACE_MS = 2_000;
/** How long an uncaught exception waits for its fatal line to be written before exiting. */
const FATAL_FLUSH_MS = 1_000;
/** A second stop signal means now: the log gets only this long. */
const SECOND_SIGNAL_FLUSH_MS = 250;

export interface Running {
  /** Resolves with the exit code once a signal has shut the app down. */
  exited: Promise<number>;
  /** Acts as if `signal` had arrived now (a stop signal held while the app was starting). */
  stop(signal: NodeJS.Signals): void;
}

/** Installs the process's signal handlers (synchronously) and runs the app until stopped. */
export function runUntilSignalled(app: App): Running {
  const logger = app.logger;
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    let signalled = false;
    let deadline: StopDeadline | undefined;
    const onStop = (signal: NodeJS.Signals): void => {
      if (signalled) {
        // A second Ctrl-C means "now": skip the rest of the drain.
        logger.warn({ signal }, "second stop signal: exiting without waiting for the drain");
        void app.flushLogsWithin(SECOND_SIGNAL_FLUSH_MS).then(() => process.exit(1));
        return;
      }
      signalled = true;
      // Whatever the shutdown waits on, the process is gone by the drain deadline plus a
      // few seconds (stop-deadline.ts).
      deadline = armStopDeadline(app.drainTimeoutMs, async (afterMs) => {
        logger.error(
          { code: "stop_deadline", signal, afterMs },
          "shutdown did not finish within the drain deadline plus the close allowance; exiting 1 now",
        );
        await app.flushLogsWithin(200);
      });
      void app.shutdown(signal).then(
        () => finish(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          finish(1);
        },
      );
    };
    const onHup = (): void => {
      // Draining: the config is not re-read (the instance is leaving; a reload would propose
      // to a Raft node that is stopping).
      if (signalled) {
        logger.warn({ signal: "SIGHUP" }, "SIGHUP during shutdown: no reload");
        return;
      }
      void app.reload("SIGHUP").catch((err: unknown) => logger.error({ err }, "reload failed"));
    };
    let fatal = false;
    const onUncaught = (err: Error, origin: string): void => {
      // Once: if reporting the first one fails too (both std streams closed), a second report
      // would fail the same way, again and again, and the exit below would never run.
      if (fatal) return;
      fatal = true;
      // State may be inconsistent after an exception nobody caught: record it, then exit
      // non-zero so a supervisor restarts us, rather than limp on or die without a word.
      logger.fatal({ err, origin }, "uncaught exception; exiting");
      process.stderr.write(`shardgate: uncaught exception: ${err.stack ?? String(err)}\n`);
      void app.flushLogsWithin(FATAL_FLUSH_MS).then(() => process.exit(1));
    };
    const onRejection = (reason: unknown): void => {
      // A stray rejected promise does not corrupt routing state; keep serving, but say so.
      logger.error({ err: reason }, "unhandled promise rejection");
    };
    function finish(code: number): void {
      deadline?.clear();
      process.off("SIGTERM", onStop);
      process.off("SIGINT", onStop);
      process.off("SIGHUP", onHup);
      process.off("unhandledRejection", onRejection);
      // Everything is closed; if some handle still holds the event loop (a log destination
      // nobody reads keeps retrying its write), do not hang forever.
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
      resolve(code);
    }
    process.on("SIGTERM", onStop);
    process.on("SIGINT", onStop);
    process.on("SIGHUP", onHup);
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onRejection);
    reportStraySignalsTo((signal) =>
      logger.warn({ signal }, `${signal} ignored: shardgate opens no inspector and does not exit on it`),
    );
    stop = onStop;
  });
  return { exited, stop: (signal) => stop(signal) };
}
