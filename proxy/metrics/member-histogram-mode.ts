// metrics.memberHistograms: whether a pool's members each get a latency histogram
// (shardgate_member_request_duration_seconds). A member histogram is 18 series (15 buckets,
// +Inf, _sum, _count) per member with traffic: at 10,000 members that was ~180,000 series per
// instance, most of a 9 MB scrape, and as many series in Prometheus for every instance of the
// fleet. The per-pool histogram and the per-member counters and gauges are always exported.

/** The per-member latency histogram's metric name. */
export const MEMBER_HISTOGRAM = "shardgate_member_request_duration_seconds";

export const MEMBER_HISTOGRAM_MODES = ["auto", "on", "off"] as const;
export type MemberHistogramMode = (typeof MEMBER_HISTOGRAM_MODES)[number];

/**
 * Largest pool whose members get histograms under "auto": 500 members are at most 9,000
 * histogram series per pool per instance (~0.7 MB of text), the size of a whole scrape that
 * Prometheus' default-sized targets are planned for; a per-member latency panel beyond a few
 * hundred members is read as a top-k anyway, which the per-member request counters give.
 */
export const MEMBER_HISTOGRAM_AUTO_LIMIT = 500;

/** Whether a pool of `members` members exports per-member latency histograms under `mode`. */
export function memberHistogramsOn(mode: MemberHistogramMode, members: number): boolean {
  return mode === "on" || (mode === "auto" && members <= MEMBER_HISTOGRAM_AUTO_LIMIT);
}
