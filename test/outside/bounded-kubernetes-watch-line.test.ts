// An outside try on memory: a Kubernetes API server (or a proxy in front of it) that starts a
// watch event line and never ends it. Before, the client library's Watch read the stream with
// node:readline, which holds a line until its newline: the watcher took every byte offered
// (the 48 MiB this test sends, and as much as a hostile peer cared to send) and held it. Now a
// line past WATCH_LINE_MAX (16 MiB) ends the watch: the peer is hung up on after at most the
// limit plus what sits in socket buffers, the failure is logged with the reason, the last member
// view stays, and the next watch carries on (a member added afterwards shows up).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { WATCH_LINE_MAX } from "../../health/kubernetes-watch-stream.js";
import { withWatchedDouble } from "../support/kube-watched-double.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-kube-endless-line-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** What the kernel and the client's stream buffers may hold past the limit when it is seen. */
const SLACK = 8 * 1024 * 1024;

test("a watch line without end is refused at the line limit; the watch resumes, the view stays", {
  timeout: 180_000,
}, async () => {
  await withWatchedDouble(dir, "kubeconfig", async ({ d, w, warnings }) => {
    const watchesBefore = w.status().watches;
    const sent = await d.sendEndlessLine(3 * WATCH_LINE_MAX);
    assert.ok(sent.hungUp, `the watcher took all ${sent.written} bytes of one line without hanging up`);
    assert.ok(
      sent.written <= WATCH_LINE_MAX + SLACK,
      `hung up only after ${sent.written} bytes (limit ${WATCH_LINE_MAX} + slack ${SLACK})`,
    );
    await eventually(
      "the refusal logged with its reason",
      () => warnings.find((l) => l.includes("longer than")),
      30_000,
    );
    assert.match(w.status().lastError ?? "", /longer than 16777216 bytes/);
    assert.deepEqual(
      w.members().map((m) => `${m.id}@${m.address}`),
      ["web-0@10.9.0.1"],
      "the last view stays",
    );
    // The watcher carries on: a new watch, and a change made now reaches the view.
    await eventually("a new watch", () => (w.status().watches > watchesBefore ? true : undefined), 30_000);
    d.putSlice("default", "web-b", "web", [{ pod: "web-1", ip: "10.9.0.2" }]);
    await eventually(
      "the member added after the refusal is seen",
      () => (w.members().length === 2 ? true : undefined),
      30_000,
    );
  });
});
