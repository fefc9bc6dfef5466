// The disk fills up while the driver writes a snapshot (ENOSPC on the snapshot's temp file,
// injected at the storage's file-system seam, so nothing else of the disk is touched): the
// driver stops with a fatal error naming ENOSPC (raft_stopped above it) instead of going on
// with a log it can no longer compact, later proposals are refused with a coded error, and a
// restart on the same directory with the disk back comes up with every acknowledged write and
// the previous snapshot (the partial temp file is removed with a warning). One real driver.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, it } from "node:test";
import { DriverError, RaftDriver } from "../../config/raft/driver.js";
import { nodeStorageFs, type StorageFs } from "../../config/raft/storage/index.js";
import { freePorts } from "../support/ports.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "snapshot-disk-full-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-snapfull-"));
const drivers: RaftDriver[] = [];
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

it("ENOSPC while writing a snapshot stops the driver; a restart keeps every acknowledged write", async () => {
  const [port] = await freePorts(1);
  const peers = { solo: `127.0.0.1:${port}` };
  let full = false;
  const snapshotWrites: string[] = [];
  const tmpFds = new Set<number>();
  const diskFs: StorageFs = {
    ...nodeStorageFs,
    openWrite(p) {
      const fd = nodeStorageFs.openWrite(p);
      if (p.endsWith(".snap.tmp")) {
        tmpFds.add(fd);
        snapshotWrites.push(p);
      }
      return fd;
    },
    write(fd, buf, position) {
      // Half the snapshot reaches the disk, then it is full.
      if (full && tmpFds.has(fd)) {
        nodeStorageFs.write(fd, buf.subarray(0, buf.length >> 1), position);
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      }
      nodeStorageFs.write(fd, buf, position);
    },
    close(fd) {
      tmpFds.delete(fd);
      nodeStorageFs.close(fd);
    },
  };
  const sm = new KvStateMachine();
  const d = new RaftDriver(
    testDriverOptions(root, SECRET, "solo", peers, {
      bootstrap: ["solo"],
      stateMachine: sm,
      snapshotEvery: 10,
      compactMargin: 2,
      storage: { fs: diskFs },
    }),
  );
  drivers.push(d);
  let fatal: Error | undefined;
  d.on("fatal", (e: Error) => {
    fatal = e;
  });
  await d.start();
  await waitFor(() => d.status().role === "leader", "solo leads", 10_000);
  const acked = new Map<string, string>();
  // A first snapshot goes through.
  for (let i = 0; i < 12; i++) {
    await d.propose(kvCommand(`a${i}`, `v${i}`));
    acked.set(`a${i}`, `v${i}`);
  }
  await waitFor(() => d.status().snapshotIndex > 0, "a first snapshot", 10_000);
  const firstSnap = d.status().snapshotIndex;
  // Then the disk is full for the next one: proposals until the driver stops (bounded).
  full = true;
  let refused: unknown;
  for (let i = 0; i < 100 && refused === undefined; i++) {
    try {
      await d.propose(kvCommand(`b${i}`, `w${i}`));
      acked.set(`b${i}`, `w${i}`);
    } catch (err) {
      refused = err;
    }
  }
  assert.ok(refused instanceof DriverError, `a proposal after the failure is refused: ${String(refused)}`);
  assert.ok(["FATAL", "STOPPED"].includes(refused.code), refused.code);
  await waitFor(() => fatal !== undefined, "the fatal event", 10_000);
  assert.match(String(fatal?.message), /ENOSPC/, "the fatal error names the cause");
  assert.ok(snapshotWrites.length >= 2, `a second snapshot was attempted: ${snapshotWrites.join(",")}`);
  await d.stop();

  // The disk is back: a restart on the same directory.
  full = false;
  const sm2 = new KvStateMachine();
  const warnings: string[] = [];
  const again = new RaftDriver(
    testDriverOptions(root, SECRET, "solo", peers, {
      stateMachine: sm2,
      snapshotEvery: 10,
      compactMargin: 2,
      onWarning: (m) => warnings.push(m),
    }),
  );
  drivers.push(again);
  await again.start();
  for (const [k, v] of acked) assert.equal(sm2.map.get(k), v, `acknowledged ${k} lost after the restart`);
  assert.ok(again.status().snapshotIndex >= firstSnap);
  assert.ok(
    !fs.readdirSync(path.join(root, "solo"), { recursive: true }).some((n) => String(n).endsWith(".tmp")),
    "the partial snapshot file is gone",
  );
  await waitFor(() => again.status().role === "leader", "leads again", 10_000);
  await again.propose(kvCommand("after", "1"));
  assert.equal(sm2.map.get("after"), "1");
});
