// `cluster.statefulSet`: the voter list of a fleet that runs as a Kubernetes StatefulSet,
// derived instead of written out. Pod NAME-i of a StatefulSet whose governing headless Service
// is SERVICE answers at NAME-i.SERVICE.NAMESPACE.svc[.DOMAIN], and its name (HOSTNAME) is
// stable across reschedules, so the peer list is known before any pod exists:
//   voters = NAME-0 .. NAME-(replicas-1), each at NAME-i.SERVICE.NAMESPACE.svc:PORT.
// A node whose id is not one of them (an extra Deployment replica, an ingress sidecar) is a
// learner: it needs only its own reachable address (`advertise`, the pod IP from the downward
// API); it asks the voters to add it.
// Pure: the schema calls it from its transform, so the rest of the code sees plain peers.

import type { Address } from "../address.js";

export interface StatefulSetPeers {
  /** StatefulSet name (pod names are NAME-0, NAME-1, ...). */
  readonly name: string;
  /** The headless Service governing the set (spec.serviceName). */
  readonly service: string;
  readonly namespace: string;
  /** Voters: the set's replica count (odd: 3 or 5). */
  readonly replicas: number;
  /** Raft transport port on every pod. */
  readonly port: number;
  /** Appended after ".svc" when set (e.g. "cluster.local"); absent = rely on the pod's DNS search path. */
  readonly clusterDomain?: string;
  /** This node's reachable host when it is not a voter (the pod IP). */
  readonly advertise?: string;
}

export interface DerivedPeers {
  readonly peers: { id: string; address: Address }[];
  readonly voters: string[];
  readonly listen: Address;
}

export function voterId(s: StatefulSetPeers, i: number): string {
  return `${s.name}-${i}`;
}

export function voterHost(s: StatefulSetPeers, i: number): string {
  const base = `${voterId(s, i)}.${s.service}.${s.namespace}.svc`;
  return s.clusterDomain === undefined ? base : `${base}.${s.clusterDomain}`;
}

/**
 * Peers and voters for node `id`; a string names what is missing (a learner without
 * `advertise`). `listen`: the configured listener, else every interface on `port` (a voter's
 * own DNS name may not resolve yet when it starts).
 */
export function deriveStatefulSetPeers(
  s: StatefulSetPeers,
  id: string,
  listen: Address | undefined,
): DerivedPeers | string {
  const peers: { id: string; address: Address }[] = [];
  const voters: string[] = [];
  for (let i = 0; i < s.replicas; i++) {
    voters.push(voterId(s, i));
    peers.push({ id: voterId(s, i), address: { host: voterHost(s, i), port: s.port } });
  }
  if (!voters.includes(id)) {
    if (s.advertise === undefined || s.advertise === "") {
      return `node "${id}" is not a pod of StatefulSet "${s.name}" (${voters[0]} .. ${voters[voters.length - 1]}), so it joins as a learner and needs its own address: set cluster.statefulSet.advertise (the pod IP, e.g. \${POD_IP})`;
    }
    peers.push({ id, address: { host: s.advertise, port: s.port } });
  }
  return { peers, voters, listen: listen ?? { host: "0.0.0.0", port: s.port } };
}
