// The k8s/ overlays, rendered the way a user applies them (`kubectl kustomize`), every object
// validated against the Kubernetes API schemas (kubernetes-models), the properties the issue
// asks of each checked on the rendered objects, and every ConfigMap's shardgate config run
// through `shardgate validate` as a voter pod and as a learner pod would see it.

import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { parseConfig } from "../../config/file/load.js";
import { resolveClusterSettings } from "../../proxy/cluster/cluster-settings.js";
import { shardgateArgv } from "../support/shardgate-process.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
/** The repository root, whether the test runs compiled (dist/test/k8s) or from source (test/k8s). */
const REPO = HERE.includes("/dist/test/") ? resolve(HERE, "../../..") : resolve(HERE, "../..");
const KUBECTL = process.env.KUBECTL ?? "kubectl";
const HAVE_KUBECTL = spawnSync(KUBECTL, ["version", "--client"], { stdio: "ignore" }).status === 0;
const SKIP = HAVE_KUBECTL ? false : `${KUBECTL} not found (Debian package kubectl; .ci/run installs it)`;

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped JSON by nature
type Obj = any;

function render(overlay: string): Obj[] {
  const out = execFileSync(KUBECTL, ["kustomize", join(REPO, "k8s", overlay)], { encoding: "utf8" });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Obj)
    .filter((o) => o !== null);
}

async function validateObject(o: Obj): Promise<void> {
  const mod = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`)) as Record<
    string,
    new (
      v: unknown,
    ) => { validate(): void }
  >;
  const Model = mod[o.kind];
  assert.ok(Model !== undefined, `kubernetes-models has no ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

const find = (objs: Obj[], kind: string, name?: string): Obj => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o !== undefined, `rendered output has a ${kind}${name ? ` ${name}` : ""}`);
  return o;
};

const dir = mkdtempSync(join(tmpdir(), "shardgate-k8s-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let configs = 0;

/** `shardgate validate` on `text` with `env`: its exit code (null if the 60 s timeout killed it) and output. */
function validateConfig(
  text: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const file = join(dir, `cfg-${++configs}.yaml`);
  writeFileSync(file, text);
  const { command, args } = shardgateArgv(["validate", "--config", file]);
  return new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

const SECRETS = {
  SHARDGATE_CLUSTER_SECRET: "0123456789abcdef0123456789",
  SHARDGATE_ADMIN_TOKEN: "t0k3n-0123456789abcdef",
};

/** The container running shardgate in a pod template. */
function shardgateContainer(podSpec: Obj): Obj {
  const c = podSpec.containers.find((x: Obj) => x.name === "shardgate");
  assert.ok(c !== undefined, "a container named shardgate");
  return c;
}

function secondsOfDrain(args: string[]): number {
  const i = args.indexOf("--drain-timeout");
  assert.ok(i >= 0, "--drain-timeout is explicit");
  const m = /^(\d+)s$/.exec(args[i + 1]);
  assert.ok(m !== null, `--drain-timeout in seconds, got ${args[i + 1]}`);
  return Number(m[1]);
}

/** What every shardgate container must carry: probes, drain, limits, non-root, read-only root. */
function checkShardgatePod(podSpec: Obj, where: string): void {
  const c = shardgateContainer(podSpec);
  assert.equal(c.readinessProbe?.httpGet?.path, "/readyz", `${where}: readiness on /readyz`);
  assert.equal(c.livenessProbe?.httpGet?.path, "/healthz", `${where}: liveness on /healthz`);
  const pre = c.lifecycle?.preStop?.exec?.command as string[];
  assert.equal(pre?.[0], "sleep", `${where}: preStop waits for callers to stop sending`);
  const grace = podSpec.terminationGracePeriodSeconds ?? 30;
  const need = Number(pre[1]) + secondsOfDrain(c.args);
  assert.ok(grace > need, `${where}: terminationGracePeriodSeconds ${grace} > preStop + drain ${need}`);
  for (const k of ["requests", "limits"])
    for (const r of ["cpu", "memory"]) assert.ok(c.resources?.[k]?.[r], `${where}: resources.${k}.${r}`);
  const nonRoot = c.securityContext?.runAsNonRoot ?? podSpec.securityContext?.runAsNonRoot;
  assert.equal(nonRoot, true, `${where}: runAsNonRoot`);
  assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root fs`);
  assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
  const env = new Map<string, Obj>(c.env.map((e: Obj) => [e.name, e]));
  for (const [name, key] of [
    ["SHARDGATE_CLUSTER_SECRET", "cluster-secret"],
    ["SHARDGATE_ADMIN_TOKEN", "admin-token"],
  ]) {
    assert.equal(env.get(name)?.valueFrom?.secretKeyRef?.key, key, `${where}: ${name} from the Secret`);
  }
  assert.equal(env.get("POD_IP")?.valueFrom?.fieldRef?.fieldPath, "status.podIP", `${where}: POD_IP`);
  const mount = c.volumeMounts.find((m: Obj) => m.mountPath === "/etc/shardgate");
  const vol = podSpec.volumes.find((v: Obj) => v.name === mount?.name);
  assert.ok(vol?.configMap?.name?.startsWith("shardgate-config"), `${where}: config from the ConfigMap`);
  assert.equal(c.args.join(" "), "start --config /etc/shardgate/shardgate.yaml --drain-timeout 10s");
}

// Cases share only the rendered overlays (rendered once, synchronously): they run side by side.
describe("k8s/ manifests", { skip: SKIP, concurrency: true }, () => {
  const rendered = new Map<string, Obj[]>();
  const get = (overlay: string) => {
    let objs = rendered.get(overlay);
    if (objs === undefined) {
      objs = render(overlay);
      rendered.set(overlay, objs);
    }
    return objs;
  };

  for (const overlay of ["fleet", "fleet-bootstrap", "learners", "ingress-sidecar"]) {
    test(`${overlay}: renders, and every object passes the Kubernetes schema`, async () => {
      const objs = get(overlay);
      assert.ok(objs.length >= 3, `${overlay} renders objects`);
      for (const o of objs) {
        try {
          await validateObject(o);
        } catch (err) {
          assert.fail(
            `${overlay}: ${o.kind} ${o.metadata?.name}: ${err instanceof Error ? err.message : err}`,
          );
        }
      }
    });

    test(`${overlay}: the ConfigMap's config passes shardgate validate, as a voter and as a learner`, async () => {
      const cms = get(overlay).filter(
        (o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("shardgate-config"),
      );
      assert.equal(cms.length, 1, "one shardgate ConfigMap");
      const text = cms[0].data["shardgate.yaml"];
      const envs: Record<string, string>[] = [
        { HOSTNAME: "shardgate-0", POD_IP: "10.0.0.10" },
        {
          HOSTNAME: "shardgate-learner-5d8f9c-x2x7q",
          POD_IP: "10.0.3.4",
          SHARDGATE_HTTP_LISTEN: "127.0.0.1:8080",
        },
      ];
      // The three validate runs are separate processes on separate files: run at once.
      // And the last is refused without the pod's IP for a learner: the downward API env is needed.
      const [voter, learner, bad] = await Promise.all([
        ...envs.map((env) => validateConfig(text, { ...SECRETS, ...env })),
        validateConfig(text, { ...SECRETS, HOSTNAME: "some-pod", POD_IP: "" }),
      ]);
      for (const [env, r] of [
        [envs[0], voter],
        [envs[1], learner],
      ] as const) {
        assert.equal(r.code, 0, `${overlay} as ${env.HOSTNAME}: ${r.out}`);
        assert.match(r.out, /^ok: /);
      }
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /cluster\.statefulSet\.advertise/);
    });
  }

  test("fleet-bootstrap: the fleet plus SHARDGATE_BOOTSTRAP=new on the voters, nothing else", () => {
    const plain = get("fleet");
    const boot = get("fleet-bootstrap");
    assert.equal(boot.length, plain.length);
    const env = (objs: Obj[]) =>
      find(objs, "StatefulSet", "shardgate").spec.template.spec.containers[0].env as Obj[];
    const added = env(boot).filter((e) => !env(plain).some((p) => p.name === e.name));
    assert.deepEqual(added, [{ name: "SHARDGATE_BOOTSTRAP", value: "new" }]);
    assert.equal(
      env(plain).some((e) => e.name === "SHARDGATE_BOOTSTRAP"),
      false,
      "the day-2 fleet never founds a cluster from an empty volume",
    );
    // Everything but that one variable is identical.
    const strip = (objs: Obj[]) =>
      JSON.stringify(objs, (k, v) =>
        k === "env" ? (v as Obj[]).filter((e) => e.name !== "SHARDGATE_BOOTSTRAP") : v,
      );
    assert.equal(strip(boot), strip(plain));
  });

  test("fleet: 3 voters, headless Raft Service, traffic Service, PDB, RBAC list/watch EndpointSlices only", () => {
    const objs = get("fleet");
    const sts = find(objs, "StatefulSet", "shardgate");
    assert.equal(sts.spec.replicas, 3);
    assert.equal(
      sts.spec.podManagementPolicy,
      "Parallel",
      "voters start together (readiness needs a leader)",
    );
    assert.ok(sts.spec.volumeClaimTemplates?.length === 1, "data on a PersistentVolumeClaim");
    const dataMount = shardgateContainer(sts.spec.template.spec).volumeMounts.find(
      (m: Obj) => m.name === sts.spec.volumeClaimTemplates[0].metadata.name,
    );
    assert.equal(dataMount?.mountPath, "/var/lib/shardgate");
    checkShardgatePod(sts.spec.template.spec, "fleet StatefulSet");
    assert.equal(sts.spec.template.spec.serviceAccountName, "shardgate");

    const raft = find(objs, "Service", sts.spec.serviceName);
    assert.equal(raft.spec.clusterIP, "None", "headless");
    assert.equal(raft.spec.publishNotReadyAddresses, true, "peers resolve before they are ready");
    const traffic = find(objs, "Service", "shardgate");
    assert.equal(traffic.spec.ports[0].targetPort, "http");

    const pdb = find(objs, "PodDisruptionBudget");
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, sts.spec.selector.matchLabels);

    const role = find(objs, "Role");
    assert.deepEqual(role.rules, [
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    ]);
    const binding = find(objs, "RoleBinding");
    assert.equal(binding.roleRef.name, role.metadata.name);
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "shardgate", namespace: "shardgate" },
    ]);
    find(objs, "ServiceAccount", "shardgate");
    // The shipped Secret fails closed: its cluster secret is refused, its admin token disables mutations.
    const secret = find(objs, "Secret", "shardgate-secrets");
    assert.equal(secret.stringData["admin-token"], "");
    const parsed = parseConfig(
      find(objs, "ConfigMap").data["shardgate.yaml"],
      {
        HOSTNAME: "shardgate-0",
        POD_IP: "10.0.0.1",
        SHARDGATE_CLUSTER_SECRET: secret.stringData["cluster-secret"],
      },
      "shardgate.yaml",
    );
    assert.ok(parsed.ok);
    const settings = resolveClusterSettings(parsed.config, {}, {});
    assert.equal(settings.ok, false, "a voter refuses the placeholder cluster secret");
    assert.match(!settings.ok ? settings.message : "", /cluster\.secret: at least 16 bytes/);

    // The config's StatefulSet form names this very StatefulSet, Service, namespace, size and port.
    const cfg = parseYaml(find(objs, "ConfigMap").data["shardgate.yaml"]);
    const ss = cfg.cluster.statefulSet;
    assert.equal(ss.name, sts.metadata.name);
    assert.equal(ss.service, sts.spec.serviceName);
    assert.equal(ss.namespace, sts.metadata.namespace);
    assert.equal(ss.replicas, sts.spec.replicas);
    const raftPort = shardgateContainer(sts.spec.template.spec).ports.find((p: Obj) => p.name === "raft");
    assert.equal(ss.port, raftPort.containerPort);
    assert.equal(raft.spec.ports[0].port, ss.port);
    assert.equal(
      cfg.pools.app.discovery.kubernetes.namespace,
      role.metadata.namespace,
      "the Role covers the watched namespace",
    );
  });

  test("learners: a Deployment with an HPA, no API token", () => {
    const objs = get("learners");
    const dep = find(objs, "Deployment", "shardgate-learner");
    checkShardgatePod(dep.spec.template.spec, "learner Deployment");
    assert.equal(dep.spec.template.spec.automountServiceAccountToken, false);
    const hpa = find(objs, "HorizontalPodAutoscaler");
    assert.equal(hpa.spec.scaleTargetRef.name, dep.metadata.name);
    assert.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas);
  });

  test("ingress-sidecar: the controller pods gain a shardgate learner on 127.0.0.1:8080", () => {
    const objs = get("ingress-sidecar");
    const dep = find(objs, "Deployment", "ingress-nginx-controller");
    const spec = dep.spec.template.spec;
    assert.deepEqual(
      spec.containers.map((c: Obj) => c.name).sort(),
      ["controller", "shardgate"],
      "the controller container is kept, the sidecar added",
    );
    checkShardgatePod(spec, "ingress sidecar");
    assert.equal(
      dep.spec.template.metadata.annotations?.["kubectl.kubernetes.io/default-container"],
      "controller",
      "kubectl logs/exec still default to the controller",
    );
    const env = shardgateContainer(spec).env.find((e: Obj) => e.name === "SHARDGATE_HTTP_LISTEN");
    assert.equal(env?.value, "127.0.0.1:8080");
    assert.ok(spec.terminationGracePeriodSeconds >= 30);
    for (const o of objs)
      if (o.metadata.namespace !== undefined) assert.equal(o.metadata.namespace, "ingress-nginx");
  });
});
