// The upstream lookup's own figures (proxy/net/bounded-lookup.ts) as shardgate_dns_*: how
// often DNS was asked, answered from memory, fell back to getaddrinfo, failed (by kind) or
// timed out, and how many getaddrinfo calls hold a libuv thread right now. The lookup is
// process-wide, so are these; read at scrape time, nothing on the connect path.

import type { Registry } from "prom-client";
import { DNS_FAILURE_KINDS, type LookupStats } from "../net/bounded-lookup.js";
import { registerScrapeMetric, type ScrapeSample } from "./scrape-metric.js";

export interface DnsFigures {
  readonly stats: LookupStats;
  /** getaddrinfo calls in flight now. */
  readonly active: number;
}

const NO_LABELS: Record<string, string> = {};

function one(value: number): ScrapeSample[] {
  return [{ labels: NO_LABELS, value }];
}

/** Registers the shardgate_dns_* families on `registry`, read from `source()` at scrape time. */
export function registerDnsMetrics(registry: Registry, source: () => DnsFigures): void {
  registerScrapeMetric(
    registry,
    "shardgate_dns_queries_total",
    "Upstream hostname questions asked of the resolv.conf DNS servers through c-ares (A and AAAA together count one).",
    "counter",
    () => one(source().stats.queries),
  );
  registerScrapeMetric(
    registry,
    "shardgate_dns_cache_hits_total",
    "Upstream hostname lookups answered from memory (an answer or a failure within its TTL) or from /etc/hosts.",
    "counter",
    () => one(source().stats.cached),
  );
  registerScrapeMetric(
    registry,
    "shardgate_dns_getaddrinfo_calls_total",
    "Upstream hostname lookups passed to getaddrinfo (names DNS did not know: search list, nsswitch).",
    "counter",
    () => one(source().stats.calls),
  );
  registerScrapeMetric(
    registry,
    "shardgate_dns_getaddrinfo_in_flight",
    "getaddrinfo calls running now for upstream hostnames (each holds a libuv thread).",
    "gauge",
    () => one(source().active),
  );
  registerScrapeMetric(
    registry,
    "shardgate_dns_timeouts_total",
    "Upstream hostname lookups (or their DNS questions) that got no answer within their bound.",
    "counter",
    () => one(source().stats.timeouts),
  );
  registerScrapeMetric(
    registry,
    "shardgate_dns_failures_total",
    "Upstream hostname lookups that failed, by kind: not_found (NXDOMAIN, no data), server_failure (SERVFAIL, REFUSED, EAI_AGAIN), timeout, other.",
    "counter",
    () => {
      const by = source().stats.failuresByKind;
      return DNS_FAILURE_KINDS.map((kind) => ({ labels: { kind }, value: by[kind] }));
    },
  );
}
