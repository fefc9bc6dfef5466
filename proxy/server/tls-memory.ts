// What an open TLS connection costs outside V8's accounting, for the overload guard
// (overload.ts). OpenSSL's per-connection state and record buffers are allocated by OpenSSL
// itself: neither V8's heap nor Buffers, so the guard's measure (the smaller of the RSS and V8's
// accounting plus the RSS beyond it at start) never saw them, and a flood of TLS connections
// that each sent nothing grew the process towards the OOM killer without shedding (measured:
// 3,000 quiet TLS connections raised RSS from 107 to 200 MB past a 162 MB budget, the guard's
// usage only from 0.65 to 0.76). The guard adds this estimate per open TLS socket instead of
// reading it: no allocator exposes it, and the RSS alone never falls after a burst.

/**
 * Bytes per open TLS socket outside V8's accounting. Measured (test/outside/overload-tls.test.ts):
 * ~26 KB per quiet socket once its handshake is done (RSS growth less V8's); a socket moving data
 * also holds OpenSSL's record buffers (up to 16 KB each way), so the estimate is set above the
 * quiet figure: shedding a little early costs less than the OOM killer.
 */
export const TLS_SOCKET_BYTES = 32 * 1024;
