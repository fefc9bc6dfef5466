// Warnings, not errors: a route whose path prefix reads like a gRPC service path
// ("/package.Service/", the fully qualified service name of PROTOCOL-HTTP2.md's
// "/" Service-Name "/" Method-Name) but whose pool speaks HTTP/1.1 (`protocol: http1`, the
// default). Every gRPC call on it would be refused (grpc_needs_h2_pool), so the file is
// probably missing `protocol: h2c | h2`. A heuristic, hence a warning: the file stays valid.

import type { ShardgateConfig } from "./schema.js";

/** A dotted name whose last part is capitalised, as protobuf service names are ("helloworld.Greeter"). */
const SERVICE_SEGMENT = /^\/(?:[A-Za-z_][A-Za-z0-9_]*\.)+[A-Z][A-Za-z0-9_]*(?:\/|$)/;

export function grpcRouteHints(config: Pick<ShardgateConfig, "pools" | "routes">): string[] {
  const out: string[] = [];
  config.routes.forEach((route, i) => {
    const prefix = route.match.pathPrefix;
    if (!SERVICE_SEGMENT.test(prefix)) return;
    const protocol = (config.pools[route.pool] as { protocol?: string } | undefined)?.protocol ?? "http1";
    if (protocol !== "http1") return;
    out.push(
      `routes[${i}] (pathPrefix "${prefix}") looks like a gRPC service path but pool "${route.pool}" has protocol http1: gRPC calls on it are refused (grpc_needs_h2_pool); set pools.${route.pool}.protocol to h2c or h2`,
    );
  });
  return out;
}
