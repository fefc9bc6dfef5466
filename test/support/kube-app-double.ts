// The Kubernetes API double as most discovery tests start it: service `app` in namespace
// `default` with one ready pod (p1 on 127.0.0.1) whose port `http` is the given one.

import { KubeApiDouble } from "./kube-api-double.js";

/** Starts a KubeApiDouble holding slice `app-1` of service default/app: pod p1, 127.0.0.1, port http = `port`. */
export async function kubeServingApp(port: number): Promise<KubeApiDouble> {
  const kube = await KubeApiDouble.create();
  kube.putSlice("default", "app-1", "app", [{ pod: "p1", ip: "127.0.0.1" }], { name: "http", port });
  return kube;
}
