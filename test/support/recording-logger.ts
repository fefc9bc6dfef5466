// A logger double for components run inside the test process (watchers, stores, the edge
// harness): the calls at the levels asked for are kept as text lines ("msg {fields}"), so a
// test can wait for one or count them; the other levels are dropped.

export type RecordedLevel = "debug" | "info" | "warn" | "error";

type LogCall = (obj: object, msg?: string) => void;

export interface RecordingLogger {
  readonly logger: Record<RecordedLevel, LogCall>;
  /** Every kept call, in order, as `${msg} ${JSON.stringify(obj)}`. */
  readonly lines: string[];
}

/** A logger keeping the calls made at `levels`. */
export function recordingLogger(levels: readonly RecordedLevel[]): RecordingLogger {
  const lines: string[] = [];
  const at = (level: RecordedLevel): LogCall =>
    levels.includes(level)
      ? (obj, msg) => {
          lines.push(`${msg ?? ""} ${JSON.stringify(obj)}`);
        }
      : () => {};
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}
