import { oncePerRegistry, plainCounter } from "@asu/observability";
import { Counter } from "prom-client";

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

/** What became of release-day prebuilds: `enqueued`, `skipped`, `succeeded`, `failed`. */
export const RELEASE_PREBUILD_STATES = ["enqueued", "skipped", "succeeded", "failed"] as const;
export type ReleasePrebuildState = (typeof RELEASE_PREBUILD_STATES)[number];

/** Release-day prebuilds, counted apart from users' builds (see docs/metrics.md). */
export const releasePrebuildMetrics = oncePerRegistry<{ prebuilds: Counter<"state"> }>(
  (registry) => {
    const prebuilds = new Counter({
      name: "asu_release_prebuilds_total",
      help: "Release-day prebuilds by state: enqueued, skipped (already built or queued, or not valid for the release), succeeded, failed",
      labelNames: ["state"],
      registers: [registry],
    });
    for (const state of RELEASE_PREBUILD_STATES) prebuilds.inc({ state }, 0);
    return { prebuilds };
  },
);
