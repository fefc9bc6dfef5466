// The fixture of the raw-session tests of the HTTP/1 and h2c listeners (request-target,
// request-line, trace-refused) and of the ops tests that read a real process's /metrics or
// admin views (member-inflight-idle, peers-cluster-id, raft-error-counters): echo upstreams (one
// by default) as the members of one pool behind one real shardgate process, access log off,
// started before the file's (or describe block's) tests and stopped after them, and the
// downstream client-error counter the listener tests read from /metrics.

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
  /** The first member. */
  readonly upstream: EchoUpstream;
  /** Every member, in order (ids `<prefix>1`...). */
  readonly upstreams: readonly EchoUpstream[];
  /** shardgate_downstream_client_errors_total{code} from /metrics (0 when absent). */
  clientErrors(code: string): Promise<number>;
}

/**
 * Registers before/after hooks (the file's, or the enclosing describe block's); the returned
 * fields are valid inside tests. `count` upstreams (1) with ids `<prefix>1`... ("m").
 */
export function echoBehindProxy(o: { count?: number; prefix?: string } = {}): EchoBehindProxy {
  let upstreams: EchoUpstream[] = [];
  let sg: RunningShardgate | undefined;
  before(async () => {
    upstreams = await startUpstreams(o.count ?? 1, o.prefix);
    sg = await startShardgate(
      poolConfig({ members: upstreams.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
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
    get upstreams() {
      return upstreams;
    },
    async clientErrors(code: string): Promise<number> {
      const text = await (await fetch(`${started().adminUrl}/metrics`)).text();
      return metricValue(text, "shardgate_downstream_client_errors_total", { code }) ?? 0;
    },
  };
}
