// engine-profile --syscalls's write shapes (bench/engine-profile.ts writeShapes): a real Node
// process traced by a real strace (-f -yy -s 0, as the bench runs it) makes known writes on
// loopback: its server socket (the "target's port") sends 10 + 20 bytes corked into one writev,
// then 7 bytes in one write; its client socket (an "upstream" connection) sends 5 bytes. The
// parsed shapes must say so: calls, bytes and buffers per call, by call and destination.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeShapes } from "../../bench/engine-profile.js";

const HAS_STRACE = spawnSync("strace", ["-V"]).status === 0;

const CHILD = `
const net = require("node:net");
const fs = require("node:fs");
const server = net.createServer((s) => {
  s.once("data", () => {
    s.cork();
    s.write(Buffer.alloc(10, 97));
    s.write(Buffer.alloc(20, 98));
    s.uncork();
    setTimeout(() => s.end(Buffer.alloc(7, 99)), 50);
  });
});
server.listen(0, "127.0.0.1", () => {
  const port = server.address().port;
  fs.writeFileSync(process.argv[1], String(port));
  const c = net.connect(port, "127.0.0.1", () => c.write(Buffer.alloc(5, 100)));
  let got = 0;
  c.on("data", (b) => { got += b.length; });
  c.on("end", () => { server.close(); c.destroy(); });
});
`;

test("write shapes from a real strace: writev buffers and bytes, write bytes, client and upstream sockets told apart", {
  skip: HAS_STRACE ? false : "strace is not installed",
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "sg-writes-"));
  try {
    const out = join(dir, "trace.txt");
    const portFile = join(dir, "port");
    const child = spawn(
      "strace",
      [
        "-f",
        "-yy",
        "-e",
        "trace=write,writev",
        "-e",
        "signal=none",
        "-s",
        "0",
        "-o",
        out,
        process.execPath,
        "-e",
        CHILD,
        portFile,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    assert.equal(code, 0, `strace/node exited ${code}: ${stderr}`);
    const port = Number(readFileSync(portFile, "utf8"));
    const shapes = writeShapes(readFileSync(out, "utf8"), 1, port);
    const find = (call: string, to: string) => shapes.find((w) => w.call === call && w.to === to);
    const text = JSON.stringify(shapes);
    const corked = find("writev", "client");
    assert.ok(corked !== undefined, `no writev to the client in ${text}`);
    assert.equal(corked.perRequest, 1, text);
    assert.equal(corked.bytesPerCall, 30, text);
    assert.equal(corked.buffersPerCall, 2, text);
    const single = find("write", "client");
    assert.ok(single !== undefined, `no write to the client in ${text}`);
    assert.deepEqual([single.perRequest, single.bytesPerCall, single.buffersPerCall], [1, 7, 1], text);
    const up = find("write", "upstream");
    assert.ok(up !== undefined, `no write upstream in ${text}`);
    assert.deepEqual([up.perRequest, up.bytesPerCall, up.buffersPerCall], [1, 5, 1], text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
