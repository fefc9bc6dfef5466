// A child process for identity-crash-sweep.test.ts: three real RaftDrivers (a, b, c founders,
// fsync on) over loopback TCP in one process, so a kill -9 of it crashes all three at the same
// instant. Prints `ID <node> <cluster id>` when a node holds an id (at start or when fixed), and
// `FAILED <node> <code> <message>` when a start is refused. argv: data root, JSON peers.
import { RaftDriver } from "../../config/raft/driver.js";
import { KvStateMachine } from "../support/raft-io/kv-state-machine.js";

const [root, peersJson] = process.argv.slice(2);
const peers = JSON.parse(peersJson) as Record<string, string>;
const ids = Object.keys(peers);
for (const id of ids) {
  const d = new RaftDriver({
    id,
    dataDir: `${root}/${id}`,
    secret: "identity-crash-sweep-secret-0123456789",
    peers,
    bootstrap: ids,
    stateMachine: new KvStateMachine(),
    heartbeatMs: 20,
    electionMs: 200,
    fsync: true,
  });
  d.on("clusterId", (c: string) => process.stdout.write(`ID ${id} ${c}\n`));
  d.start().then(
    () => {
      if (d.clusterId !== "") process.stdout.write(`ID ${id} ${d.clusterId}\n`);
    },
    (err: Error & { code?: string }) =>
      process.stdout.write(`FAILED ${id} ${err.code ?? "?"} ${err.message}\n`),
  );
}
