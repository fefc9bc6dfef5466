// Throwaway certificates for TLS tests, made with the openssl CLI in a test's own directory:
// a self-signed CA (`NAME.pem` / `NAME.key`) and leaf certificates it signs.

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

function openssl(dir: string, ...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

/** A self-signed CA in `dir`: `name`.pem and `name`.key, common name `cn`, valid 2 days. */
export function makeCa(dir: string, name = "ca", cn = "test-ca"): void {
  const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`];
  openssl(dir, ...args, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${cn}`);
}

/**
 * `name`.pem / `name`.key in `dir`, common name `cn`, signed by the CA `ca` (see makeCa), with
 * `san` as subjectAltName when given (e.g. "IP:127.0.0.1", "DNS:*.b.test").
 */
export function issueCert(dir: string, name: string, cn: string, san?: string, ca = "ca"): void {
  const req = ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`];
  openssl(dir, ...req, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
  const ext: string[] = [];
  if (san !== undefined) {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    ext.push("-extfile", `${name}.ext`);
  }
  const sign = ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`];
  openssl(dir, ...sign, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", ...ext);
}
