// The bounds of shardgate's own lookups (proxy/net/bounded-lookup.ts: c-ares tries from 1.5 s,
// two of them; every caller answered within 5 s), shortened for the tests of a resolver that
// never answers, whose cases wait them out (a dependency's client failing on its hostname, then
// recovering once DNS answers). Their order is kept: c-ares gives up (0.4 s, then 0.8 s) before
// a caller's bound (1.5 s), as it does by default (4.5 s before 5 s). What these cases try is
// that the lookup is bounded, named and counted, not how long the bound is.

/** The environment that shortens them in a shardgate process (proxy/test-duration.ts). */
export const SHORT_DNS_BOUNDS_ENV: Readonly<Record<string, string>> = {
  SHARDGATE_TEST_DNS_LOOKUP_MS: "1500",
  SHARDGATE_TEST_DNS_QUERY_MS: "400",
};
