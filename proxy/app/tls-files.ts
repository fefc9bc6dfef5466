// Loads the listener's TLS certificates (default pair and SNI pairs) at start into a
// CertificateStore that re-reads them when the files change; an unreadable or mismatched
// file at start is a config error naming listen.tls, not a crash.

import type { ConfigError } from "../../config/file/config-error.js";
import type { ShardgateConfig } from "../../config/file/schema.js";
import { settleOptions } from "../../config/file/settled-file.js";
import type { LogSink } from "../../config/log-sink.js";
import { CertificateStore } from "../server/certificate-store.js";
import { errorText } from "./errors.js";

export type TlsFiles = { ok: true; value?: CertificateStore } | { ok: false; error: ConfigError };

export function readTlsFiles(config: Pick<ShardgateConfig, "listen">, logger: LogSink): TlsFiles {
  const tls = config.listen.tls;
  if (tls === undefined) return { ok: true };
  try {
    const settle = settleOptions(process.env);
    const store = new CertificateStore({ cert: tls.cert, key: tls.key }, tls.sni, logger, 200, settle);
    return { ok: true, value: store };
  } catch (err) {
    const message = `cannot load TLS certificate: ${errorText(err)}`;
    return {
      ok: false,
      error: {
        path: "listen.tls",
        expected: "readable PEM files, each key matching its cert",
        found: message,
        message,
      },
    };
  }
}
