// The listener's certificates: a default pair plus pairs chosen by SNI name (exact or
// "*.domain"), re-read when their files change (cert-manager swaps them in place or through
// a symlink) without a restart. A file that does not load (half-written, garbage, key not
// matching the cert) keeps the previous pair serving and is logged; the next change retries.
// Open connections keep the context they handshook with; new handshakes get the new one.

import { type FSWatcher, readFileSync, watch } from "node:fs";
import { dirname } from "node:path";
import { createSecureContext, type SecureContext, type Server as TlsServer } from "node:tls";
import type { LogSink } from "../../config/log-sink.js";

export interface CertificateFiles {
  cert: string;
  key: string;
  /** SNI names this pair answers for; absent = the default pair. */
  names?: readonly string[];
}

interface Loaded {
  files: CertificateFiles;
  cert: Buffer;
  key: Buffer;
  context: SecureContext;
}

function load(files: CertificateFiles): Loaded {
  const cert = readFileSync(files.cert);
  const key = readFileSync(files.key);
  return { files, cert, key, context: createSecureContext({ cert, key }) };
}

export class CertificateStore {
  private pairs: Loaded[];
  private byName = new Map<string, SecureContext>();
  private watchers: FSWatcher[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private server: TlsServer | undefined;
  /** Reload outcomes, for tests and the log: "reloaded" or "kept". */
  onReload?: (result: "reloaded" | "kept", detail: string) => void;

  /** Loads every pair now; throws (a config error for the caller) when one does not load. */
  constructor(
    defaults: CertificateFiles,
    sni: readonly CertificateFiles[],
    private readonly logger: LogSink,
    private readonly debounceMs = 200,
  ) {
    this.pairs = [defaults, ...sni].map(load);
    this.index();
  }

  get defaultPair(): { cert: Buffer; key: Buffer } {
    return { cert: this.pairs[0].cert, key: this.pairs[0].key };
  }

  /** Node's SNICallback: the pair for `name`, else the default. */
  readonly SNICallback = (name: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const lower = name.toLowerCase();
    let ctx = this.byName.get(lower);
    if (ctx === undefined) {
      const dot = lower.indexOf(".");
      if (dot > 0) ctx = this.byName.get(`*${lower.slice(dot)}`);
    }
    cb(null, ctx ?? this.pairs[0].context);
  };

  /** Starts watching the files' folders; the default pair is installed on `server` on change. */
  watch(server: TlsServer): void {
    this.server = server;
    const dirs = new Set(this.pairs.flatMap((p) => [dirname(p.files.cert), dirname(p.files.key)]));
    for (const dir of dirs) {
      const w = watch(dir, { persistent: false }, () => this.schedule());
      w.on("error", (err) => this.logger.error({ dir, err: err.message }, "certificate folder watch failed"));
      this.watchers.push(w);
    }
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Re-reads every pair; each one that fails keeps its previous version. */
  reload(): void {
    let changed = 0;
    const kept: string[] = [];
    this.pairs = this.pairs.map((old) => {
      try {
        const next = load(old.files);
        if (next.cert.equals(old.cert) && next.key.equals(old.key)) return old;
        changed++;
        return next;
      } catch (err) {
        kept.push(`${old.files.cert}: ${(err as Error).message}`);
        return old;
      }
    });
    if (changed > 0) {
      this.index();
      this.server?.setSecureContext({ cert: this.pairs[0].cert, key: this.pairs[0].key });
      this.logger.info({ changed }, "listener certificates reloaded");
      this.onReload?.("reloaded", `${changed} pair(s)`);
    }
    if (kept.length > 0) {
      this.logger.error({ files: kept }, "listener certificate did not load; still serving the previous one");
      this.onReload?.("kept", kept.join("; "));
    }
  }

  private index(): void {
    const m = new Map<string, SecureContext>();
    for (const p of this.pairs) for (const n of p.files.names ?? []) m.set(n.toLowerCase(), p.context);
    this.byName = m;
  }
}
