// A service registered with the Consul double the way an operator's agent gets it: over HTTP,
// PUT /v1/agent/service/register, so the double's own request handling is what the test sees.

import type { ConsulDouble } from "./consul-double.js";

/** Registers `name` (instance `id`) at 127.0.0.1:`port`; throws with the double's answer unless it is 200. */
export async function registerService(
  consul: ConsulDouble,
  id: string,
  name: string,
  port: number,
): Promise<void> {
  const res = await fetch(`http://${consul.address}/v1/agent/service/register`, {
    method: "PUT",
    body: JSON.stringify({ ID: id, Name: name, Address: "127.0.0.1", Port: port }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`registering ${id} (${name}) answered ${res.status}: ${text}`);
}
