import { oncePerRegistry, plainCounter } from "@asu/observability";

/** The build tier's answers to build requests. */
export interface CacheMetrics {
  /** Build requests answered with an existing result. */
  hits: { inc(): void };
  /** Build requests that enqueued a new build. */
  misses: { inc(): void };
}

export const cacheMetrics = oncePerRegistry<CacheMetrics>((registry) => ({
  hits: plainCounter(
    registry,
    "asu_build_cache_hits_total",
    "Build requests answered with an already built result",
  ),
  misses: plainCounter(
    registry,
    "asu_build_cache_misses_total",
    "Build requests that enqueued a new build",
  ),
}));

/**
 * Build requests the build tier answered as failed before the queue (a
 * package no index has): failed builds that took no job and no container.
 */
export const refusedBuildMetrics = oncePerRegistry<{ refused: { inc(): void } }>((registry) => ({
  refused: plainCounter(
    registry,
    "asu_build_failed_before_queue_total",
    "Build requests failed before the queue because a package is in no index (no job, no container)",
  ),
}));
