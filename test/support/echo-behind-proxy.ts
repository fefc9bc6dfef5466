// The fixture of the raw-session tests of the HTTP/1 and h2c listeners (request-target,
// request-line, trace-refused): one echo upstream behind one real shardgate process, started
// before the file's tests and stopped after them, and the downstream client-error counter those
// tests read from /metrics.

import { after, before } from "node:test";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "./shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "./upstreams.js";

export interface EchoBehindProxy {
  /** The shardgate process (set once the file's `before` ran). */
  readonly sg: RunningShardgate;
  /** Its HTTP listener's port. */
  readonly port: number;
  /** The one member. */
  readonly upstream: EchoUpstream;
  /** shardgate_downstream_client_errors_total{code} from /metrics (0 when absent). */
  clientErrors(code: string): Promise<number>;
}

/** Registers the file's before/after hooks; the returned fields are valid inside tests. */
export function echoBehindProxy(): EchoBehindProxy {
  let upstreams: EchoUpstream[] = [];
  let sg: RunningShardgate | undefined;
  before(async () => {
    upstreams = await startUpstreams(1);
    sg = await startShardgate(
      poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], accessLog: false }),
    );
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });
  const started = (): RunningShardgate => {
    if (sg === undefined) throw new Error("echoBehindProxy: used outside a test (before has not run)");
    return sg;
  };
  return {
    get sg() {
      return started();
    },
    get port() {
      return Number(new URL(started().httpUrl).port);
    },
    get upstream() {
      return upstreams[0];
    },
    async clientErrors(code: string): Promise<number> {
      const text = await (await fetch(`${started().adminUrl}/metrics`)).text();
      return metricValue(text, "shardgate_downstream_client_errors_total", { code }) ?? 0;
    },
  };
}
