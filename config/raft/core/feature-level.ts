// Feature levels: what a node understands of the replicated log, as one integer that grows with
// every new entry kind or encoding (etcd's cluster version, without semver). Each node advertises
// its own level in the responses it sends the leader; the leader commits the minimum over the
// configuration's members once it has heard every one (the cluster level), and proposers only
// use what that committed level has. A peer of the released version sends no level: the slot it
// leaves at 0 reads as RELEASED_LEVEL, the level before anything below existed.

/** The level of the released version: SetRouting, conf changes without incarnations. */
export const RELEASED_LEVEL = 0;
/**
 * This build's level. 1 adds: conf changes that name an incarnation (v2), the routing patch
 * command (PatchRouting, config/state), and the committed cluster level itself. 2 adds the
 * cluster identity (driver/cluster-identity.ts): transport hellos of version 2 naming it, and
 * "@cluster" in snapshots. 3 adds the snapStatus message (a follower tells the leader it refused
 * a snapshot), which a build of level 2 cannot decode. 4 adds no entry kind: it is the key
 * spelling rules of s14 (proxy/routing/key-extract.ts), which a clustered instance applies only
 * from the committed level on, so old and new builds route every key alike. 5 adds no entry kind
 * either: a `Forwarded: for=unknown` or obfuscated (`for=_x`) node identifies no client address
 * (an absent ip key, RFC 7239 section 6), read so only from the committed level on. 6 adds none
 * either: a `header:host` key is one text for every spelling of an authority (the listener's
 * default port and a trailing dot removed), read so only from the committed level on. 7 adds none
 * either: a host key drops ports 80 and 443 whichever listener read it (level 6 dropped only the
 * listener's own default port, so a plain and a TLS instance hashed `h:443` apart), read so only
 * from the committed level on. 8 adds the retired list in a snapshot message (frame flag 32, which
 * a build of level 7 refuses with the whole frame): a follower caught up by a snapshot learns the
 * data directories the leader's history retired while it lagged.
 */
export const CURRENT_LEVEL = 8;
/** The level conf changes naming an incarnation or a rejoin need. */
export const LEVEL_INCARNATION_CONF = 1;
/** The level at which the fleet fixes its cluster id (every member reads version-2 hellos). */
export const LEVEL_CLUSTER_ID = 2;
/** The level at which a follower answers a snapshot it refused with a snapStatus message. */
export const LEVEL_SNAP_STATUS = 3;
/** The level from which keys are read by s14's spelling rules (before it: key-extract-v3.ts). */
export const LEVEL_KEY_SPELLING = 4;
/** The level from which a Forwarded node that identifies nothing (unknown, _obfuscated) is no ip key. */
export const LEVEL_FORWARDED_NOTHING = 5;
/** The level from which a host key drops the listener's default port and a trailing dot. */
export const LEVEL_HOST_KEY = 6;
/** The level from which a host key drops ports 80 and 443 on every listener (the same key fleet-wide). */
export const LEVEL_HOST_KEY_PORTS = 7;
/** The level from which a leader's snapshot message carries its retired data directories. */
export const LEVEL_SNAPSHOT_RETIRED = 8;
/** The level the cluster-level entry itself needs (older nodes do not know the entry). */
export const LEVEL_CLUSTER_LEVEL = 1;
/**
 * Largest level a peer may advertise. A newer build legitimately advertises more than this one
 * knows (the minimum keeps the fleet at what everyone understands); anything past this bound is
 * not a level but a forged or corrupt value, refused and counted.
 */
export const MAX_ADVERTISED_LEVEL = 1000;
/** ProposalDropped reason prefix: the committed cluster level lacks what the proposal needs. */
export const LEVEL_TOO_LOW = "cluster level too low";

/** Whether `n` is a level a peer may advertise (an integer in [0, MAX_ADVERTISED_LEVEL]). */
export function isAdvertisableLevel(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= MAX_ADVERTISED_LEVEL;
}

/** The refusal text for a proposal needing `need` while the fleet is at `have`. */
export function levelTooLow(what: string, need: number, have: number): string {
  return `${LEVEL_TOO_LOW}: ${what} needs cluster level ${need}, the fleet is at ${have} (finish the rolling upgrade: every member must run a version of level ${need} or later)`;
}
