// The transport's drops and rejections per peer are Prometheus counters, labelled by peer and
// reason, the peer one of the configuration's or "unknown". Before, they were only aggregate
// counters inside the transport (dropped by reason, no peer) and no metric at all. Real
// transports over loopback: payloads displaced from a full queue (queue_full), held past the
// few kept for a dead peer (unreachable), a payload too large to send (oversized_send), forged
// frames from a configured peer's name and from a name outside the configuration (bad_mac), and
// a send to a peer with no address; scraped through the cluster metrics, checked by promtool;
// and a real process's /metrics declares both (its cluster node wires the transport's figures).
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, describe, it } from "node:test";
import { Registry } from "prom-client";
import {
  clientProof,
  frames,
  newNonce,
  parseAddress,
  secretKey,
  sessionKey,
  signData,
  TcpTransport,
  type TcpTransportOptions,
} from "../../config/raft/transport/index.js";
import { registerClusterMetrics } from "../../proxy/metrics/cluster-metrics.js";
import { fixedClusterSource } from "../support/cluster-metrics-source.js";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { freePorts } from "../support/ports.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transport-drop-metrics-secret-0123";
const note = seedNote(SEED);
const rand = seededRandom(SEED);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function transport(id: string, extra: Partial<TcpTransportOptions> = {}): Promise<TcpTransport> {
  const t = new TcpTransport({ id, secret: SECRET, rand, onMessage: () => {}, ...extra });
  await t.start();
  cleanups.push(() => t.stop());
  return t;
}

/** Authenticates as `from` with `secret` and sends one DATA frame with a flipped MAC bit. */
async function forgedFrame(addr: string, from: string, to: string): Promise<void> {
  const { host, port } = parseAddress(addr);
  const sock = net.connect({ host, port });
  cleanups.push(() => sock.destroy());
  sock.on("error", () => {});
  const closed = new Promise<void>((r) => sock.on("close", () => r()));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const key = secretKey(SECRET);
  const cNonce = newNonce();
  sock.write(frames.encodeHello(from, to, cNonce));
  const challenge = await new Promise<Buffer>((resolve) => sock.once("data", resolve));
  const sNonce = challenge.subarray(5, 5 + frames.NONCE_BYTES);
  sock.write(frames.encodeAuth(clientProof(key, from, to, sNonce, cNonce)));
  const session = sessionKey(key, from, to, cNonce, sNonce);
  const f = frames.encodeDataUnsigned(1, [Buffer.from("forged")], 0, 1);
  const mac = signData(session, frames.dataMacRange(f));
  mac[0] ^= 1;
  mac.copy(f, f.length - frames.MAC_BYTES);
  sock.write(f);
  await closed;
}

type Series = { labels: Record<string, string>; value: number };

/** The samples of `family` in an exposition text, with their labels. */
function samples(text: string, family: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${family}{`) && !line.startsWith(`${family} `)) continue;
    const labels: Record<string, string> = {};
    for (const m of line.matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]] = m[2];
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(" ") + 1)) });
  }
  return out;
}

const sampleValue = (s: Series[], peer: string, reason: string): number | undefined =>
  s.find((x) => x.labels.peer === peer && x.labels.reason === reason)?.value;

async function scrape(t: TcpTransport): Promise<string> {
  const registry = new Registry();
  registerClusterMetrics(registry, { ...fixedClusterSource({}), transportPeers: () => t.stats().byPeer });
  return registry.metrics();
}

it("drops and rejections are counters per configured peer and reason", { timeout: 120_000 }, async () => {
  const [deadPort] = await freePorts(1);
  const b = await transport("b", { maxFrameBytes: 4096 });
  const a = await transport("a", {
    peers: { b: b.address(), c: `127.0.0.1:${deadPort}` },
    maxQueuePayloads: 4,
    maxFrameBytes: 4096,
    backoffMinMs: 10,
    backoffMaxMs: 50,
  });
  // b knows c (dead, never dialled: b sends it nothing), so c's name is a configured one there.
  b.setPeer("c", `127.0.0.1:${deadPort}`);

  // b's first dial is in progress: 10 sends into a queue of 4 displace 6 (queue_full).
  for (let k = 0; k < 10; k++) a.send("b", Buffer.from(`p${k}`));
  // Too large for a frame: refused before sending (oversized_send), twice.
  a.send("b", Buffer.alloc(8192));
  a.send("b", Buffer.alloc(8192));
  // No address: counted under "unknown", not under a label of its own.
  a.send("nobody", Buffer.from("x"));
  // c is dead: once a dial failed only the newest 8 are held (unreachable).
  a.send("c", Buffer.from("first"));
  await waitFor(() => a.linkState("c") === "reconnecting", `the dial to the dead c failed (${note})`, 30_000);
  for (let k = 0; k < 20; k++) a.send("c", Buffer.from(`c${k}`));
  // Forged frames at b: one under a configured peer's name, one under a name outside it.
  await forgedFrame(b.address(), "c", "b");
  await forgedFrame(b.address(), "mallory", "b");

  const family = "shardgate_raft_transport_dropped_payloads_total";
  const dropped = samples(await scrape(a), family);
  const agg = a.stats().dropped;
  assert.equal(sampleValue(dropped, "b", "queue_full"), 6, `b's queue_full (${note})`);
  const cUnreachable = sampleValue(dropped, "c", "unreachable") ?? 0;
  assert.ok(cUnreachable >= 12, `c's unreachable drops: ${cUnreachable}, want >= 12 (${note})`);
  assert.equal(sampleValue(dropped, "unknown", "no_address"), 1, `the send to nobody (${note})`);
  assert.equal(
    dropped.filter((s) => s.labels.reason === "unreachable").reduce((n, s) => n + s.value, 0),
    agg.unreachable,
    `per-peer unreachable drops add up to the transport's (${note})`,
  );
  const peersA = new Set(dropped.map((s) => s.labels.peer));
  assert.deepEqual([...peersA].sort(), ["b", "c", "unknown"], `a's peer labels (${note})`);

  const rejectedFamily = "shardgate_raft_transport_peer_rejected_total";
  assert.equal(
    sampleValue(samples(await scrape(a), rejectedFamily), "b", "oversized_send"),
    2,
    `a's oversized_send to b (${note})`,
  );
  const textB = await scrape(b);
  const rejectedB = samples(textB, rejectedFamily);
  assert.equal(sampleValue(rejectedB, "c", "bad_mac"), 1, `the forged frame under c's name (${note})`);
  assert.equal(
    sampleValue(rejectedB, "unknown", "bad_mac"),
    1,
    `the forged frame under mallory's name (${note})`,
  );
  assert.ok(
    !rejectedB.some((s) => s.labels.peer === "mallory"),
    `no label for a name outside the configuration (${note})`,
  );

  // Exposed as counters, with help, clean for promtool.
  for (const [text, name] of [
    [await scrape(a), family],
    [textB, rejectedFamily],
  ]) {
    const lines = text.split("\n").filter((l) => l.includes(name));
    assert.ok(lines.includes(`# TYPE ${name} counter`), `${name} is a counter`);
    assert.ok(
      lines.some((l) => l.startsWith(`# HELP ${name} `)),
      `${name} has help`,
    );
    const lint = await promtoolCheckMetrics(`${lines.join("\n")}\n`);
    assert.equal(lint.code, 0, lint.out);
    assert.equal(lint.out.trim(), "", `no promtool findings for ${name}`);
  }
});

describe("a real process", () => {
  const fx = echoBehindProxy({ prefix: "tdm" });

  it("exports both families from its transport (a lone instance: only the unknown peer, at 0)", async () => {
    const text = await (await fetch(`${fx.sg.adminUrl}/metrics`)).text();
    for (const name of [
      "shardgate_raft_transport_dropped_payloads_total",
      "shardgate_raft_transport_peer_rejected_total",
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} counter$`, "m"), `${name} declared`);
      const series = samples(text, name);
      assert.ok(series.length > 0, `${name} sampled`);
      assert.deepEqual([...new Set(series.map((x) => x.labels.peer))], ["unknown"], `${name}'s peers`);
      assert.ok(
        series.every((x) => x.value === 0),
        `${name}: ${JSON.stringify(series.filter((x) => x.value !== 0))}`,
      );
    }
  });
});
