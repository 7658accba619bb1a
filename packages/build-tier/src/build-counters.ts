import type { BuildRequest } from "@asu/contract";
import { type Logger, type metricsRegistry, registerCollectedGauge } from "@asu/observability";
import { type BuildQueue, readWorkers, WORKER_STATES } from "@asu/queue";
import { clientOf, extraPackages, type StatsEntry, type StatsRecorder } from "@asu/stats";
import type { ValidatedRequest } from "@asu/upstream";
import { type MetadataStatsSource, registerUpstreamMetrics } from "@asu/upstream";
import type { Redis } from "ioredis";
import { cacheMetrics } from "./build-metrics.ts";

type Registry = ReturnType<typeof metricsRegistry>;

/** How a build request was answered, for the cache counters and statistics. */
export type RequestOutcome = "hit" | "miss" | "answered" | "refused";

/** Who asked, as the statistics name them: the request's `client`, else the User-Agent. */
export interface CountedClient {
  client?: string | null | undefined;
  userAgent?: string | undefined;
}

export interface BuildCounters {
  readonly statsEnabled: boolean;
  count(outcome: RequestOutcome, who: CountedClient, extra?: StatsEntry[]): void;
}

/** Queue states /metrics reports, read from BullMQ at scrape time. */
const QUEUE_STATES = [
  "waiting",
  "prioritized",
  "delayed",
  "active",
  "completed",
  "failed",
] as const;

/** The build tier's scrape-time gauges: jobs by state, workers by state, upstream fetches. */
export function registerBuildTierCollectors(
  registry: Registry,
  deps: {
    queue: Pick<BuildQueue, "queue">;
    redis: Redis;
    client: MetadataStatsSource;
    logger: Logger;
  },
): void {
  const { redis } = deps;
  const onError = (error: Error) =>
    deps.logger.warn({ err: error.message }, "reading metrics failed");
  registerCollectedGauge(registry, {
    name: "asu_queue_jobs",
    help: "Build jobs in the queue by state (completed and failed include results not yet expired)",
    labelName: "state",
    read: () => deps.queue.queue.getJobCounts(...QUEUE_STATES),
    onError,
  });
  registerCollectedGauge(registry, {
    name: "asu_workers",
    help: "Workers that reported within the heartbeat TTL, by state",
    labelName: "state",
    read: async () => {
      const counts: Record<string, number> = Object.fromEntries(
        WORKER_STATES.map((state) => [state, 0]),
      );
      for (const worker of await readWorkers(redis)) {
        counts[worker.state] = (counts[worker.state] ?? 0) + 1;
      }
      return counts;
    },
    onError,
  });
  registerUpstreamMetrics(registry, deps.client);
}

/**
 * Counts build requests: Prometheus always, statistics when the recorder is
 * on (SERVER_STATS). The recorder sums in memory and writes once a second,
 * never on the answer's path.
 */
export function createBuildCounters(registry: Registry, stats: StatsRecorder): BuildCounters {
  const cache = cacheMetrics(registry);
  return {
    statsEnabled: stats.enabled,
    count(outcome, who, extra = []) {
      if (outcome === "hit") cache.hits.inc();
      else if (outcome === "miss") cache.misses.inc();
      if (!stats.enabled) return;
      const entries: StatsEntry[] = [{ kind: "event", event: "requests" }];
      if (outcome !== "refused") {
        entries.push({ kind: "client", client: clientOf(who.client, who.userAgent) });
      }
      if (outcome === "hit") entries.push({ kind: "event", event: "cache-hits" });
      if (outcome === "miss") entries.push({ kind: "event", event: "cache-misses" }, ...extra);
      stats.record(...entries);
    },
  };
}

/** The packages a new build adds to the device's defaults, for the statistics. */
export function extraPackagesOf(
  request: BuildRequest,
  packages: readonly string[],
  validated: Pick<ValidatedRequest, "metadata" | "branch">,
): StatsEntry {
  const { metadata } = validated;
  return {
    kind: "packages",
    branch: validated.branch.name,
    packages: extraPackages(
      packages,
      metadata.default_packages ?? [],
      metadata.profiles?.[request.profile]?.device_packages ?? [],
    ),
  };
}
