// What the Kubernetes discovery tests run against: a fresh in-process KubeApiDouble, and a real
// cluster when KUBECONFIG is set (its current context; the tests create and delete
// EndpointSlices in a namespace of their own, then delete the namespace). Tests that need a control only the double has
// (stop/start, compaction, broken or silent watches) call `needControls` to skip with a reason.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, DiscoveryV1Api, KubeConfig, type V1EndpointSlice } from "@kubernetes/client-node";
import {
  endpointSliceBody,
  KubeApiDouble,
  type KubeApiDoubleOptions,
  type SliceEndpoint,
} from "../kube-api-double.js";

export interface KubeTarget {
  readonly kind: "double" | "cluster";
  /** A kubeconfig file for the code under test. */
  readonly kubeconfig: string;
  readonly kubeConfig: KubeConfig;
  /** The namespace the tests write to. */
  readonly namespace: string;
  /** Present only for the double. */
  readonly controls: KubeApiDouble | undefined;
  putSlice(
    name: string,
    service: string,
    endpoints: SliceEndpoint[],
    port?: { name: string; port: number },
  ): Promise<void>;
  deleteSlice(name: string): Promise<void>;
  close(): Promise<void>;
}

async function clusterTarget(path: string, seed: number): Promise<KubeTarget> {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const namespace = `shardgate-test-${seed}-${process.pid}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const names = new Set<string>();
  return {
    kind: "cluster",
    kubeconfig: path,
    kubeConfig: kc,
    namespace,
    controls: undefined,
    async putSlice(name, service, eps, port = { name: "http", port: 8080 }) {
      const body: V1EndpointSlice = endpointSliceBody(namespace, name, service, eps, port);
      if (names.has(name)) {
        const cur = await discovery.readNamespacedEndpointSlice({ name, namespace });
        body.metadata = { ...body.metadata, resourceVersion: cur.metadata?.resourceVersion };
        await discovery.replaceNamespacedEndpointSlice({ name, namespace, body });
      } else await discovery.createNamespacedEndpointSlice({ namespace, body });
      names.add(name);
    },
    async deleteSlice(name) {
      await discovery.deleteNamespacedEndpointSlice({ name, namespace });
      names.delete(name);
    },
    async close() {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    },
  };
}

/** Why the real-cluster run of a suite is skipped, or undefined when KUBECONFIG is set. */
export function clusterSkipReason(): string | undefined {
  const env = process.env.KUBECONFIG;
  return env === undefined || env === ""
    ? "KUBECONFIG is not set: these tests ran against the Kubernetes API double only"
    : undefined;
}

/** The double, or (kind "cluster") KUBECONFIG's current context. */
export async function kubeTarget(
  seed: number,
  kind: "double" | "cluster",
  opts: KubeApiDoubleOptions = {},
): Promise<KubeTarget> {
  if (kind === "cluster") {
    const env = process.env.KUBECONFIG;
    if (env === undefined || env === "") throw new Error("kubeTarget: KUBECONFIG is not set");
    return clusterTarget(env, seed);
  }
  const d = await KubeApiDouble.create(opts);
  const dir = mkdtempSync(join(tmpdir(), "shardgate-kube-"));
  const kubeconfig = d.writeKubeconfig(join(dir, "kubeconfig"));
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const namespace = "shop";
  return {
    kind: "double",
    kubeconfig,
    kubeConfig: kc,
    namespace,
    controls: d,
    async putSlice(name, service, eps, port) {
      d.putSlice(namespace, name, service, eps, port);
    },
    async deleteSlice(name) {
      d.deleteSlice(namespace, name);
    },
    async close() {
      await d.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Returns the double's controls, or skips the test with a reason on a real cluster. */
export function needControls(
  t: { skip(message?: string): void },
  target: KubeTarget,
  what: string,
): KubeApiDouble | undefined {
  if (target.controls === undefined) {
    t.skip(
      `needs ${what}, which only the Kubernetes API double offers (KUBECONFIG points at a real cluster)`,
    );
  }
  return target.controls;
}
