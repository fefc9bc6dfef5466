// `shardgate ctl recover --force-new-cluster --config FILE [--node-id ID] [--data-dir DIR]`:
// the one manual step after a MAJORITY of voters lost their disks. Run it on a stopped
// survivor: its data directory becomes a one-voter cluster with all its state (see
// config/raft/recover.ts). Then start it, and start the other members on EMPTY data
// directories: they join and are promoted back by themselves. Refuses while the instance's
// Raft port is in use (it is probably still running).

import { createServer } from "node:net";
import { formatAddress } from "../../config/address.js";
import { errorText } from "../../config/coded-error.js";
import { loadConfigFile } from "../../config/file/load.js";
import { forceNewCluster } from "../../config/raft/recover.js";
import { parseCommandFlags } from "../app/command-flags.js";
import { lockDataDir } from "../app/data-dir-lock.js";
import { resolveClusterSettings } from "../cluster/cluster-settings.js";

const USAGE =
  "usage: shardgate ctl recover --force-new-cluster --config FILE [--node-id ID] [--data-dir DIR]";

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags("ctl recover", USAGE, argv, {
    config: { type: "string", short: "c" },
    "node-id": { type: "string" },
    "data-dir": { type: "string" },
    "force-new-cluster": { type: "boolean" },
  });
  if (!flags.ok) return flags.exitCode;
  const v = flags.values;
  if (v["force-new-cluster"] !== true) {
    console.error(`shardgate ctl recover: --force-new-cluster is required (it is the only mode)\n${USAGE}`);
    return 2;
  }
  if (v.config === undefined || v.config === "") {
    console.error(`shardgate ctl recover: --config FILE is required\n${USAGE}`);
    return 2;
  }
  const loaded = await loadConfigFile(v.config);
  if (!loaded.ok) {
    console.error(`shardgate ctl recover: ${v.config}: the config is invalid; run shardgate validate`);
    return 1;
  }
  const r = resolveClusterSettings(
    loaded.config,
    { nodeId: v["node-id"], dataDir: v["data-dir"] },
    process.env,
  );
  if (!r.ok) {
    console.error(`shardgate ctl recover: ${r.message}`);
    return 1;
  }
  const s = r.settings;
  if (s.implicit) {
    console.error("shardgate ctl recover: the config has no cluster: section; there is nothing to recover");
    return 1;
  }
  // A still-running instance holds its Raft port: refuse rather than edit a live data directory.
  if (s.listen !== null && !(await portFree(s.listen.host, s.listen.port))) {
    console.error(
      `shardgate ctl recover: ${formatAddress(s.listen)} is in use: stop instance "${s.id}" first`,
    );
    return 1;
  }
  // The data directory's lock says it too, whatever the ports (data-dir-lock.ts).
  const lock = lockDataDir(s.dataDir);
  if (!lock.ok) {
    console.error(`shardgate ctl recover: ${lock.code}: data directory ${s.dataDir}: ${lock.message}`);
    return 1;
  }
  try {
    const out = await forceNewCluster(s.dataDir, s.id);
    console.log(
      JSON.stringify({
        recovered: s.id,
        dataDir: s.dataDir,
        removedVoters: out.removed,
        term: out.term,
        lastIndex: out.lastIndex,
        next: "start this instance, then the others on EMPTY data directories (they rejoin by themselves)",
      }),
    );
    return 0;
  } catch (err) {
    console.error(`shardgate ctl recover: ${errorText(err)}`);
    return 1;
  } finally {
    lock.release();
  }
}
