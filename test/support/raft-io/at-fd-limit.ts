// What a file of in-process Raft drivers taken to this process's own descriptor limit
// (fd-limit-raft-*.test.ts) holds, and gives back in after(): the descriptors takeEveryFd took
// (closed first, so the drivers have descriptors to stop with), then the drivers, then the
// directory their data lives under.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RaftDriver } from "../../../config/raft/driver.js";
import { closeAll } from "../fd-limit.js";

export class AtFdLimit {
  readonly root: string;
  /** takeEveryFd's descriptors. */
  readonly taken: number[] = [];
  /** Every driver the file created, started or not. */
  readonly drivers: RaftDriver[] = [];

  /** `prefix`: the temp directory's name before its random tail. */
  constructor(prefix: string) {
    this.root = mkdtempSync(join(tmpdir(), prefix));
  }

  async release(): Promise<void> {
    closeAll(this.taken);
    for (const d of this.drivers) await d.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}
