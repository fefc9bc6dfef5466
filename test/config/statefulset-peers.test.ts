// cluster.statefulSet: voters derived from a StatefulSet's name, headless Service, namespace,
// replica count and port; the node id from the pod name (HOSTNAME); learners with only the
// voters' Service and their own pod IP.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { resolveClusterSettings } from "../../proxy/cluster/cluster-settings.js";

const BASE = `pools:
  p:
    members: [{ id: m, address: "127.0.0.1:9000" }]
routes:
  - pool: p
    key: [ip]
`;

function yaml(cluster: string): string {
  return `${BASE}cluster:\n${cluster}`;
}

const SET = `  id: \${HOSTNAME}
  secret: \${SHARDGATE_CLUSTER_SECRET}
  dataDir: /var/lib/shardgate
  statefulSet: { name: shardgate, service: shardgate-raft, namespace: edge, replicas: 3, port: 9902, advertise: "\${POD_IP}" }
`;
const SECRET = "0123456789abcdef0123";

function settings(text: string, env: Record<string, string>) {
  const r = parseConfig(text, env, "k8s.yaml");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const s = resolveClusterSettings(r.config, {}, env);
  assert.ok(s.ok, !s.ok ? s.message : "");
  return s.settings;
}

test("a StatefulSet pod is a voter: peers NAME-i.SERVICE.NAMESPACE.svc:PORT, id from HOSTNAME, listens on every interface", () => {
  const s = settings(yaml(SET), {
    HOSTNAME: "shardgate-1",
    POD_IP: "10.1.2.3",
    SHARDGATE_CLUSTER_SECRET: SECRET,
  });
  assert.equal(s.id, "shardgate-1");
  assert.deepEqual(s.voters, ["shardgate-0", "shardgate-1", "shardgate-2"]);
  assert.deepEqual(s.learners, []);
  assert.deepEqual(
    { ...s.peers },
    {
      "shardgate-0": "shardgate-0.shardgate-raft.edge.svc:9902",
      "shardgate-1": "shardgate-1.shardgate-raft.edge.svc:9902",
      "shardgate-2": "shardgate-2.shardgate-raft.edge.svc:9902",
    },
  );
  assert.deepEqual(s.listen, { host: "0.0.0.0", port: 9902 });
});

test("any other pod (sidecar, Deployment replica) is a learner at its pod IP", () => {
  const s = settings(yaml(SET), {
    HOSTNAME: "ingress-nginx-controller-7d9f-abcde",
    POD_IP: "10.4.0.17",
    SHARDGATE_CLUSTER_SECRET: SECRET,
  });
  assert.deepEqual(s.voters, ["shardgate-0", "shardgate-1", "shardgate-2"]);
  assert.deepEqual(s.learners, ["ingress-nginx-controller-7d9f-abcde"]);
  assert.equal(s.peers["ingress-nginx-controller-7d9f-abcde"], "10.4.0.17:9902");
});

test("clusterDomain is appended; an explicit listen wins", () => {
  const text = yaml(
    SET.replace("port: 9902,", "port: 9902, clusterDomain: cluster.local,").replace(
      "  dataDir:",
      "  listen: 127.0.0.1:9999\n  dataDir:",
    ),
  );
  const s = settings(text, { HOSTNAME: "shardgate-0", POD_IP: "10.1.2.3", SHARDGATE_CLUSTER_SECRET: SECRET });
  assert.equal(s.peers["shardgate-2"], "shardgate-2.shardgate-raft.edge.svc.cluster.local:9902");
  assert.deepEqual(s.listen, { host: "127.0.0.1", port: 9999 });
});

function errorsOf(text: string, env: Record<string, string>): string {
  const r = parseConfig(text, env, "k8s.yaml");
  assert.equal(r.ok, false, "expected the config to be refused");
  return JSON.stringify(!r.ok && r.errors);
}

test("a learner without its pod IP is refused, naming cluster.statefulSet.advertise", () => {
  const e = errorsOf(yaml(SET), { HOSTNAME: "web-abc", SHARDGATE_CLUSTER_SECRET: SECRET });
  assert.match(e, /cluster\.statefulSet\.advertise/);
  assert.match(e, /joins as a learner/);
});

test("statefulSet with peers, bad names and replica counts are refused with their paths", () => {
  const env = { HOSTNAME: "shardgate-0", POD_IP: "10.0.0.1", SHARDGATE_CLUSTER_SECRET: SECRET };
  assert.match(
    errorsOf(yaml(`${SET}  peers: [{ id: shardgate-0, address: "a:1" }]\n`), env),
    /cluster\.statefulSet.*do not list them as well/,
  );
  assert.match(
    errorsOf(yaml(SET.replace("name: shardgate,", "name: Shard_Gate,")), env),
    /cluster\.statefulSet\.name/,
  );
  assert.match(
    errorsOf(yaml(SET.replace("replicas: 3", "replicas: 0")), env),
    /cluster\.statefulSet\.replicas/,
  );
  assert.match(
    errorsOf(yaml(SET), { ...env, HOSTNAME: "x", POD_IP: "not an ip!" }),
    /cluster\.statefulSet\.advertise/,
  );
});
