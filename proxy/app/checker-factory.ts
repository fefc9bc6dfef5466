// Builds the active health checker for one member. Interim implementation (a GET per
// interval with healthy/unhealthy thresholds) until health/active-check.ts lands; the
// CheckerFactory contract stays the same when it is swapped in.

import { request } from "node:http";
import type { Logger } from "pino";
import type { CheckerFactory } from "./health-checks.js";

export function createCheckerFactory(logger: Logger): CheckerFactory {
  return (target, onChange) => {
    const { check, address } = target;
    let healthy = target.initiallyHealthy;
    let streak = 0;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const probe = (): void => {
      const req = request(
        {
          host: address.host,
          port: address.port,
          path: check.path,
          method: "GET",
          timeout: check.timeout,
          agent: false,
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          const ok = check.expectStatus.some((r) => status >= r.from && status <= r.to);
          done(ok, ok ? undefined : `status ${status}`);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${check.timeout}ms`)));
      req.on("error", (err) => done(false, err.message));
      req.end();
    };
    const done = (ok: boolean, reason: string | undefined): void => {
      if (stopped) return;
      if (ok === healthy) streak = 0;
      else if (++streak >= (ok ? check.healthyThreshold : check.unhealthyThreshold)) {
        healthy = ok;
        streak = 0;
        onChange(ok, ok ? {} : { reason });
      }
      logger.trace({ pool: target.pool, member: target.member, ok, reason }, "health probe");
      timer = setTimeout(probe, check.interval);
      timer.unref();
    };
    probe();
    return {
      stop() {
        stopped = true;
        if (timer !== undefined) clearTimeout(timer);
      },
    };
  };
}
