// A kubeconfig for a cluster the Kubernetes API double does not stand for: an address named by a
// hostname, a closed port, or reached through a proxy. One cluster, user `u` with token `t`,
// context `c` on namespace `default` (what KubeApiDouble.writeKubeconfig writes for itself).

import { writeFileSync } from "node:fs";

export interface KubeconfigCluster {
  /** The cluster's name in the file (shows in the client's errors). */
  name: string;
  /** e.g. "http://127.0.0.1:1234". */
  server: string;
  insecureSkipTlsVerify?: boolean;
  /** The kubeconfig's `proxy-url`, e.g. "socks5://host:port". */
  proxyUrl?: string;
}

/** Writes the kubeconfig at `path`; returns `path`. */
export function writeKubeconfigFor(path: string, c: KubeconfigCluster): string {
  const cluster = [
    `      server: "${c.server}"`,
    ...(c.insecureSkipTlsVerify === true ? ["      insecure-skip-tls-verify: true"] : []),
    ...(c.proxyUrl !== undefined ? [`      proxy-url: "${c.proxyUrl}"`] : []),
  ];
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
  - name: ${c.name}
    cluster:
${cluster.join("\n")}
users:
  - name: u
    user: { token: t }
contexts:
  - name: c
    context: { cluster: ${c.name}, user: u, namespace: default }
current-context: c
`,
  );
  return path;
}
