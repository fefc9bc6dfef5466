// Real echo upstreams for data-plane tests: HTTP servers on ephemeral loopback ports that
// echo the method, path, headers, body and their member id as JSON, and a websocket echo.
// Each can be told to misbehave: refuse connections (listener closed), reset on request,
// delay the answer, stream slowly, answer a fixed status, or die (close + drop connections).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer } from "ws";

export type UpstreamMode =
  | { kind: "echo" }
  | { kind: "reset" }
  /** Headers immediately, then the body after `ms`. */
  | { kind: "delay"; ms: number }
  /** Headers only after `ms` (a slow upstream for response timeouts). */
  | { kind: "delayHeaders"; ms: number }
  /** 200 with `chunks` chunks, one every `everyMs`. */
  | { kind: "slowStream"; chunks: number; everyMs: number }
  /** Sends headers and part of a body, then resets. */
  | { kind: "resetMidBody" }
  | { kind: "status"; status: number }
  /** Websocket upgrades are accepted at TCP level but never answered. */
  | { kind: "stallUpgrade" };

export interface EchoBody {
  member: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class EchoUpstream {
  readonly id: string;
  port = 0;
  host = "127.0.0.1";
  mode: UpstreamMode = { kind: "echo" };
  /** Requests received (any mode), health probes included. */
  requests = 0;
  /** Of those, active health-check probes (paths under /health). */
  healthProbes = 0;
  /** TCP connections accepted over the upstream's life. */
  connectionsAccepted = 0;
  private server: Server;
  private wss: WebSocketServer;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private listening = false;

  constructor(id: string) {
    this.id = id;
    this.server = this.makeServer();
    this.wss = new WebSocketServer({ noServer: true });
  }

  private makeServer(): Server {
    const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => this.onRequest(req, res));
    server.on("connection", (s: Socket) => {
      this.connectionsAccepted++;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    server.on("upgrade", (req, socket, head) => {
      if (this.mode.kind === "stallUpgrade") {
        this.requests++;
        // Read (and drop) so the peer closing is noticed (http sockets allow half-open, hence
        // the destroy on end); the socket stays in openConnections until then.
        socket.on("end", () => socket.destroy());
        socket.resume();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on("message", (data) => ws.send(`${this.id}:${data.toString()}`));
      });
    });
    return server;
  }

  /** Open TCP connections right now (for leak checks). */
  openConnections(): number {
    return this.sockets.size;
  }

  get address(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  /** `host`: any loopback address (127.0.0.2 ... stand for pod IPs sharing one port). */
  async start(port = 0, host = this.host): Promise<this> {
    this.host = host;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
    return this;
  }

  /** Stops listening (new connections are refused) and drops every open connection. */
  async die(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.listening) {
      this.listening = false;
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
  }

  /** Stops listening (new connections are refused) but keeps established connections. */
  async refuse(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // server.close() waits for open connections; refusal only needs the listener gone.
    await new Promise((r) => setImmediate(r));
    void closed;
  }

  /** Listens again on the same port after die() or refuse(). */
  async revive(): Promise<void> {
    this.server = this.makeServer();
    await this.start(this.port);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Requests that were traffic, not a health checker's probes. */
  get trafficRequests(): number {
    return this.requests - this.healthProbes;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    if (req.url?.startsWith("/health") === true) this.healthProbes++;
    const mode = this.mode;
    if (mode.kind === "reset") {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body: EchoBody = {
        member: this.id,
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      const json = JSON.stringify(body);
      switch (mode.kind) {
        case "status":
          res.writeHead(mode.status, { "content-type": "application/json", "x-member": this.id });
          res.end(json);
          return;
        case "delayHeaders":
          this.later(mode.ms, () => {
            if (!res.destroyed) {
              res.writeHead(200, { "content-type": "application/json" });
              res.end(json);
            }
          });
          return;
        case "delay":
          res.writeHead(200, { "content-type": "application/json" });
          res.flushHeaders();
          this.later(mode.ms, () => {
            if (!res.destroyed) res.end(json);
          });
          return;
        case "slowStream": {
          res.writeHead(200, { "content-type": "text/plain", "x-member": this.id });
          let n = 0;
          const tick = (): void => {
            if (res.destroyed) return;
            res.write(`${this.id}-chunk-${n}\n`);
            if (++n >= mode.chunks) res.end();
            else this.later(mode.everyMs, tick);
          };
          tick();
          return;
        }
        case "resetMidBody":
          res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
          res.write("partial-");
          this.later(20, () => req.socket.destroy());
          return;
        default:
          res.writeHead(200, {
            "content-type": "application/json",
            "x-member": this.id,
            "keep-alive": "timeout=5",
          });
          res.end(json);
      }
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    await this.die();
  }
}

/** Starts `n` echo upstreams with ids prefix1..prefixN. */
export async function startUpstreams(n: number, prefix = "m"): Promise<EchoUpstream[]> {
  const out: EchoUpstream[] = [];
  for (let i = 1; i <= n; i++) out.push(await new EchoUpstream(`${prefix}${i}`).start());
  return out;
}

export async function closeAll(upstreams: readonly EchoUpstream[]): Promise<void> {
  await Promise.all(upstreams.map((u) => u.close()));
}
