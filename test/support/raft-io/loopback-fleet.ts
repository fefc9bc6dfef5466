// In-process RaftDrivers on loopback TCP, as the raft-io tests start them: each id on a free
// 127.0.0.1 port, then a wait for one leader that every given node follows.

import type { RaftDriver } from "../../../config/raft/driver.js";
import { freePorts } from "../ports.js";
import { waitFor } from "../wait.js";

/** The peers map for `ids`: each on a free 127.0.0.1 port. */
export async function loopbackPeers(ids: readonly string[]): Promise<Record<string, string>> {
  const ports = await freePorts(ids.length);
  const peers: Record<string, string> = {};
  ids.forEach((id, i) => {
    peers[id] = `127.0.0.1:${ports[i]}`;
  });
  return peers;
}

/** Waits (up to 10 s, scaled) until one of `nodes` leads and all of them follow it; returns it. */
export async function leaderAllFollow(nodes: readonly RaftDriver[], what: string): Promise<RaftDriver> {
  await waitFor(
    () => nodes.some((d) => d.status().role === "leader" && nodes.every((o) => o.status().leader === d.id)),
    what,
    10_000,
  );
  return nodes.find((d) => d.status().role === "leader") as RaftDriver;
}
