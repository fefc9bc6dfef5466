// One Consul target per test suite (the double, or a real agent via CONSUL_HTTP_ADDR) that
// cleans up after itself: every service the suite registered is deregistered when it ends,
// so runs against a shared real agent leave nothing behind.

import { after, before } from "node:test";
import { rawPut, registerService } from "./agent-ops.js";
import { type ConsulTarget, consulTarget } from "./target.js";

export interface SuiteConsul {
  /** The target; set by the suite's before() hook, so valid inside tests. */
  readonly target: ConsulTarget;
  /** registerService on the target, remembering the service for the suite's cleanup. */
  register(def: Record<string, unknown>): Promise<void>;
}

/**
 * Call inside a describe(): opens the target in before(); in after() runs `cleanup` (stop
 * what watches the target first), deregisters every registered service, closes the target.
 */
export function suiteConsul(seed: number, cleanup?: () => Promise<void>): SuiteConsul {
  const registered: string[] = [];
  let target: ConsulTarget | undefined;
  const suite: SuiteConsul = {
    get target(): ConsulTarget {
      if (target === undefined)
        throw new Error("suiteConsul: the target is opened in before(); use it inside tests");
      return target;
    },
    async register(def) {
      await registerService(suite.target, def);
      registered.push(String(def.ID ?? def.Name));
    },
  };
  before(async () => {
    target = await consulTarget({ seed });
  });
  after(async () => {
    await cleanup?.();
    if (target === undefined) return;
    for (const id of registered)
      await rawPut(target, `/v1/agent/service/deregister/${encodeURIComponent(id)}`).catch(() => {});
    await target.close();
  });
  return suite;
}
