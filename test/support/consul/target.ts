// Chooses what the Consul tests run against: a real agent when CONSUL_HTTP_ADDR is set (for
// example `consul agent -dev`), else a fresh in-process ConsulDouble. Tests that need a
// control only the double has (stop/start, snapshot restore) call `needControls` to skip
// with a stated reason on a real agent.

import { ConsulDouble, type ConsulDoubleOptions } from "../consul-double.js";

export interface ConsulTarget {
  /** "host:port" of the HTTP API. */
  address: string;
  host: string;
  port: number;
  /** ACL token to send (CONSUL_HTTP_TOKEN for a real agent). */
  token: string | undefined;
  /** Present only for the double. */
  controls: ConsulDouble | undefined;
  /** "double" or "agent", for messages. */
  kind: "double" | "agent";
  close(): Promise<void>;
}

/** Parses CONSUL_HTTP_ADDR ("127.0.0.1:8500" or "http://127.0.0.1:8500"). */
export function parseConsulAddr(raw: string): { host: string; port: number } {
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new Error(`CONSUL_HTTP_ADDR must be host:port or http://host:port, got ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== "http:")
    throw new Error(`CONSUL_HTTP_ADDR: only http:// is supported by these tests, got ${u.protocol}`);
  return { host: u.hostname, port: u.port === "" ? 8500 : Number(u.port) };
}

export async function consulTarget(opts: ConsulDoubleOptions = {}): Promise<ConsulTarget> {
  const env = process.env.CONSUL_HTTP_ADDR;
  if (env !== undefined && env !== "") {
    const { host, port } = parseConsulAddr(env);
    return {
      address: `${host}:${port}`,
      host,
      port,
      token: process.env.CONSUL_HTTP_TOKEN || undefined,
      controls: undefined,
      kind: "agent",
      close: async () => {},
    };
  }
  const d = await ConsulDouble.create(opts);
  return {
    address: d.address,
    host: d.host,
    port: d.port,
    token: opts.aclToken,
    controls: d,
    kind: "double",
    close: () => d.close(),
  };
}

/** Returns the double's controls, or skips the test with a reason on a real agent. */
export function needControls(
  t: { skip(message?: string): void },
  target: ConsulTarget,
  what: string,
): ConsulDouble | undefined {
  if (target.controls === undefined) {
    t.skip(`needs ${what}, which only the Consul double offers (CONSUL_HTTP_ADDR points at a real agent)`);
  }
  return target.controls;
}
