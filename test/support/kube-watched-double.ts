// A KubernetesWatcher on Service default/web, synced against a fresh KubeApiDouble (one slice,
// pod web-0 at 10.9.0.1) with its first watch open, for the outside tries of what a hostile API
// server may send on a watch. Warnings and errors are recorded; backoff is short so the next
// watch comes soon after a failure, and bookmarks never come in a test's time.

import { join } from "node:path";
import { KubernetesWatcher } from "../../health/kubernetes-watcher.js";
import { KubeApiDouble } from "./kube-api-double.js";
import { recordingLogger } from "./recording-logger.js";
import { eventually } from "./wait.js";

export interface WatchedDouble {
  readonly d: KubeApiDouble;
  readonly w: KubernetesWatcher;
  /** The watcher's warn and error log lines. */
  readonly warnings: string[];
}

/** Runs `body` once the watch is open, then stops the watcher and the double whatever happened. */
export async function withWatchedDouble(
  dir: string,
  kubeconfigName: string,
  body: (t: WatchedDouble) => Promise<void>,
): Promise<void> {
  const d = await KubeApiDouble.create({ bookmarkIntervalMs: 3_600_000 });
  const kubeconfig = d.writeKubeconfig(join(dir, kubeconfigName));
  d.putSlice("default", "web-a", "web", [{ pod: "web-0", ip: "10.9.0.1" }]);
  const { logger, lines: warnings } = recordingLogger(["warn", "error"]);
  const w = new KubernetesWatcher({
    service: "web",
    namespace: "default",
    port: "http",
    kubeconfig,
    watchTimeoutSec: 600,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    rateLimit: 20,
    logger,
  });
  try {
    w.start();
    await w.whenSynced();
    await eventually("a watch open", () => (d.openWatches === 1 ? true : undefined), 30_000);
    await body({ d, w, warnings });
  } finally {
    await w.stop();
    await d.close();
  }
}
