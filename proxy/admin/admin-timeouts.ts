// The admin port's timeouts: admin.timeouts where set, else listen.timeouts (the admin port
// had only the proxy listener's until admin.timeouts existed, so an unset field keeps that).

import type { ShardgateConfig } from "../../config/file/schema.js";

export interface AdminTimeouts {
  request: number;
  headers: number;
  idle: number;
  keepAlive: number;
}

export function adminTimeouts(config: ShardgateConfig): AdminTimeouts {
  const own = config.admin.timeouts;
  const listen = config.listen.timeouts;
  return {
    request: own.request ?? listen.request,
    headers: own.headers ?? listen.headers,
    idle: own.idle ?? listen.idle,
    keepAlive: own.keepAlive ?? listen.keepAlive,
  };
}
