// A finished request's record as the data plane hands it to the access log and the metrics
// observer, with every field set to something ordinary; tests override what they look at.

import type { RequestRecord } from "../../proxy/forward/types.js";

export function requestRecord(fields: Partial<RequestRecord> = {}): RequestRecord {
  const r = {
    method: "GET",
    path: "/",
    status: 200,
    route: "*/",
    pool: "p",
    member: "m1",
    durationMs: 2,
    queuedMs: 0,
    requestId: "r",
    keyHash: 1,
    attempts: 1,
    ringVersion: 1,
    errorCode: "",
    upgrade: false,
    startedAt: 0,
    ...fields,
  };
  const {
    memberSlot = -1,
    endedAt = -1,
    ...logged
  } = r as typeof r & { memberSlot?: number; endedAt?: number };
  return {
    ...logged,
    memberSlot,
    endedAt,
    openSlot: -1,
    traceState: null,
    toJSON: () => logged,
  } as RequestRecord;
}
