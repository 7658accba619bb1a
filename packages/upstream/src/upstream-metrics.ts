import { collectedCounter } from "@asu/observability";
import type { Registry } from "prom-client";

/** What the upstream metadata client counts (`MetadataClient.stats()`). */
export interface MetadataStatsSource {
  stats(): { fetches: number; failures: number; hits: number };
}

/** Upstream metadata fetches, failures and cache hits, read from the client at scrape time. */
export function registerUpstreamMetrics(registry: Registry, source: MetadataStatsSource): void {
  const counters = [
    [
      "asu_upstream_metadata_fetches_total",
      "Requests sent to the upstream metadata server",
      "fetches",
    ],
    [
      "asu_upstream_metadata_failures_total",
      "Upstream metadata requests that brought nothing usable (network error, timeout, 5xx, invalid JSON)",
      "failures",
    ],
    [
      "asu_upstream_metadata_cache_hits_total",
      "Upstream metadata reads answered from the cache",
      "hits",
    ],
  ] as const;
  for (const [name, help, field] of counters) {
    if (registry.getSingleMetric(name)) continue;
    collectedCounter(registry, name, help, () => source.stats()[field]);
  }
}
