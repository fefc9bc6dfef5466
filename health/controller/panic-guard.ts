// The healthy-panic guard, after Envoy's healthy_panic_threshold: when applying what
// discovery (or active checks) report would leave fewer than `threshold` of a pool's members
// healthy, the report is more likely a broken check, a network split or a Consul incident
// than a real mass failure, and emptying the pool would turn it into a full outage. So the
// guard keeps every member that is healthy in the committed state healthy, raises a panic
// flag for alerting, and lets only good news (members turning healthy) through.

export interface GuardInput {
  readonly id: string;
  /** Health in the committed state; undefined for a member that is not committed yet. */
  readonly committed: boolean | undefined;
  /** Health as observed now. */
  readonly observed: boolean;
}

export interface GuardResult {
  readonly panic: boolean;
  /** Members that would be healthy if the observation were applied unguarded. */
  readonly wouldBeHealthy: number;
  /** Members of the pool after the change (healthy or not). */
  readonly total: number;
  /** Health to commit, in input order. */
  readonly health: readonly boolean[];
  /** Committed-healthy members the guard kept healthy although they were observed unhealthy. */
  readonly suppressed: readonly string[];
}

/**
 * `threshold` in [0, 1]: 0 disables the guard; 0.5 panics below half the pool healthy.
 * New members (committed undefined) take their observed health: a freshly registered
 * instance whose check is still critical must not receive traffic, panic or not.
 */
export function guardHealth(members: readonly GuardInput[], threshold: number): GuardResult {
  let wouldBeHealthy = 0;
  for (const m of members) if (m.observed) wouldBeHealthy++;
  const total = members.length;
  const panic = total > 0 && wouldBeHealthy < threshold * total;
  const health: boolean[] = [];
  const suppressed: string[] = [];
  for (const m of members) {
    if (panic && !m.observed && m.committed === true) {
      health.push(true);
      suppressed.push(m.id);
    } else health.push(m.observed);
  }
  return { panic, wouldBeHealthy, total, health, suppressed };
}
