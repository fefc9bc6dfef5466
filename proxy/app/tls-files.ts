// Reads the listener's TLS certificate and key once at start; an unreadable file is a config
// error naming listen.tls, not a crash.

import { readFileSync } from "node:fs";
import type { ConfigError } from "../../config/file/config-error.js";
import type { ShardgateConfig } from "../../config/file/schema.js";
import { errorText } from "./errors.js";

export type TlsFiles =
  | { ok: true; value?: { cert: Buffer; key: Buffer } }
  | { ok: false; error: ConfigError };

export function readTlsFiles(config: ShardgateConfig): TlsFiles {
  const tls = config.listen.tls;
  if (tls === undefined) return { ok: true };
  try {
    return { ok: true, value: { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } };
  } catch (err) {
    const message = `cannot read TLS file: ${errorText(err)}`;
    return {
      ok: false,
      error: { path: "listen.tls", expected: "readable PEM files", found: message, message },
    };
  }
}
