// `pools.P.tls`: TLS (and mTLS with cert + key) from shardgate to a pool's members. Kept in
// its own file, additive to schema.ts. Paths are resolved by the caller's filePath().

import { z } from "zod";

export function upstreamTlsSchema(filePath: () => z.ZodType<string, string>) {
  return z
    .strictObject({
      /** PEM CA bundle the members' certificates must chain to; absent = Node's public roots. */
      ca: filePath().optional(),
      /** Client certificate and key presented to members that require one (mTLS). */
      cert: filePath().optional(),
      key: filePath().optional(),
      /** SNI and the name checked in the member's certificate; default: the member's host. */
      servername: z.string().min(1).optional(),
      minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2"),
      /** Verify the member's certificate; turning this off is logged at warn on every load. */
      verify: z.boolean().default(true),
    })
    .refine((t) => (t.cert === undefined) === (t.key === undefined), {
      error: "cert and key go together (both or neither)",
    });
}

export type UpstreamTlsConfig = z.output<ReturnType<typeof upstreamTlsSchema>>;
