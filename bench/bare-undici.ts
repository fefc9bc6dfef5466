// The bench's second bare peer (`--role bare-undici` of proxy-bench.ts): the smallest sharding
// forwarder on undici, one `Pool` per upstream and `pool.stream` straight into the client's
// response. Like with like with the http-proxy-3 peer: the same hash and pick, at most 256
// connections per member, X-Forwarded-For added, hop-by-hop headers dropped both ways. No
// metrics, no log, no retries: what forwarding itself costs on this engine.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Pool } from "undici";
import { hashKey } from "../ring/hash.js";

const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** Request headers as a flat [name, value, ...] array, hop-by-hop removed, X-Forwarded-For added. */
function forwardHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  out.push("x-forwarded-for", req.socket.remoteAddress ?? "");
  return out;
}

interface StreamOpaque {
  res: ServerResponse;
}

function onHeaders(
  this: void,
  data: { statusCode: number; headers: Record<string, string | string[] | undefined>; opaque: unknown },
): ServerResponse {
  const { res } = data.opaque as StreamOpaque;
  const h = data.headers;
  for (const name of HOP) if (name !== "host") delete h[name];
  res.writeHead(data.statusCode, h);
  return res;
}

function onDone(this: void, err: Error | null, data: { opaque: unknown } | undefined): void {
  if (err === null) return;
  const res = (data?.opaque as StreamOpaque | undefined)?.res;
  if (res === undefined) return;
  if (!res.headersSent) {
    res.writeHead(502);
    res.end();
  } else res.destroy();
}

export async function roleBareUndici(port: number, upstreams: string[], keyHeader: string): Promise<void> {
  const pools = upstreams.map(
    (a) => new Pool(`http://${a}`, { connections: 256, keepAliveTimeout: 4000, pipelining: 1 }),
  );
  const server = createServer((req, res) => {
    const key = req.headers[keyHeader];
    const i = typeof key === "string" ? hashKey(key) % pools.length : 0;
    const hasBody =
      req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    pools[i].stream(
      {
        path: req.url ?? "/",
        method: (req.method ?? "GET") as "GET",
        headers: forwardHeaders(req),
        body: hasBody ? req : null,
        opaque: { res } satisfies StreamOpaque,
      },
      onHeaders as never,
      onDone as never,
    );
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
}
