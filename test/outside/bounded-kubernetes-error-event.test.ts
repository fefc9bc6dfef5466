// An outside try on the Kubernetes watch: the API server (or whatever answers in its place)
// ends a watch with an ERROR event whose Status message is 1 MB of one line, with an ESC
// sequence, a bidi override and a CR in it. The message went whole into the watcher's last error: into the warning logged, into
// /admin/discovery on every read and `ctl discovery`, and it stayed there until the next
// failure. Consul's error text was already cut at 200 characters; this one is cut and quoted
// the same way a Consul id is in a log message (config/log-quote.ts), and the watch carries on.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { withWatchedDouble } from "../support/kube-watched-double.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-kube-error-event-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Far above a real Status message, far below the 1 MB sent. */
const ERROR_TEXT_BOUND = 400;

test("a watch ERROR event's 1 MB message is cut and quoted in the last error and the warning", {
  timeout: 120_000,
}, async () => {
  await withWatchedDouble(dir, "kubeconfig", async ({ d, w, warnings }) => {
    const message = `boom\u001b[2J\u202e\rover ${"m".repeat(1024 * 1024)}`;
    d.sendToWatches("ERROR", { kind: "Status", status: "Failure", code: 500, message });
    const warning = await eventually(
      "the failure warned",
      () => warnings.find((l) => l.includes("watch error event")),
      30_000,
    );
    const lastError = w.status().lastError ?? "";
    assert.match(lastError, /^watch error event: 500 "boom\\u001b\[2J\\u202e\\rover m+"\.\.\.\(\d+ more\)$/);
    assert.ok(lastError.length <= ERROR_TEXT_BOUND, `the last error is ${lastError.length} characters`);
    assert.ok(warning.length <= 4 * ERROR_TEXT_BOUND, `the warning is ${warning.length} characters`);
    // The watch carries on: a change made now reaches the view.
    d.putSlice("default", "web-b", "web", [{ pod: "web-1", ip: "10.9.0.2" }]);
    await eventually("the next watch's change", () => (w.members().length === 2 ? true : undefined), 30_000);
  });
});

test("a watch ERROR event whose code and message are objects is still named in the last error", {
  timeout: 120_000,
}, async () => {
  // String() of an object parsed from JSON throws when its toString and valueOf are no
  // functions: the last error was "Cannot convert object to primitive value".
  await withWatchedDouble(dir, "kubeconfig-objects", async ({ d, w, warnings }) => {
    const message = { toString: 1, valueOf: 1, text: "quota" };
    d.sendToWatches("ERROR", { kind: "Status", code: { toString: 1, valueOf: 1 }, message });
    await eventually("the failure warned", () => warnings.find((l) => l.includes("watch")), 30_000);
    const lastError = w.status().lastError ?? "";
    assert.match(lastError, /^watch error event: "\{.*toString.*"(\.\.\.\(\d+ more\))? "\{.*quota.*"$/);
    d.putSlice("default", "web-b", "web", [{ pod: "web-1", ip: "10.9.0.2" }]);
    await eventually("the next watch's change", () => (w.members().length === 2 ? true : undefined), 30_000);
  });
});
