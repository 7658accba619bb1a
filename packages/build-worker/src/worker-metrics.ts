import { oncePerRegistry } from "@asu/observability";
import { Counter, Gauge, Histogram } from "prom-client";

/** Build durations run from seconds to the job timeout. */
const BUILD_BUCKETS = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1800];
const STAGE_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/** A worker's builds: outcomes, durations, busy or idle. */
export interface WorkerMetrics {
  /** Builds finished: `success`, `failure`, `retried` (a failure of ours, tried again), or `requeued` (handed back). */
  jobsFinished: Counter<"outcome">;
  buildDuration: Histogram<"outcome">;
  stageDuration: Histogram<"stage">;
  /** Builds running in this worker now. */
  buildsRunning: Gauge;
  /** 1 while this worker runs at least one build, else 0. */
  workerBusy: Gauge;
  /** Failed build attempts by kind (`request`, `infrastructure`) and the classifier's reason. */
  buildFailures: Counter<"kind" | "reason">;
  /** Releases built from a snapshot image because their own image did not exist. */
  fallbackBuilds: Counter;
  /** Registry checks of ImageBuilder images (pulls), by outcome (`pulled`, `failed`). */
  registryChecks: Counter<"outcome">;
  /** 1 while this worker reaches its Podman API, else 0 (it takes no jobs then). */
  podmanAvailable: Gauge;
}

export const workerMetrics = oncePerRegistry<WorkerMetrics>((registry) => {
  const registers = [registry];
  const metrics: WorkerMetrics = {
    jobsFinished: new Counter({
      name: "asu_build_jobs_finished_total",
      help: "Builds a worker finished, by outcome (success, failure, retried, requeued)",
      labelNames: ["outcome"],
      registers,
    }),
    buildDuration: new Histogram({
      name: "asu_build_duration_seconds",
      help: "Time from a build's start in a worker to its end, by outcome",
      labelNames: ["outcome"],
      buckets: BUILD_BUCKETS,
      registers,
    }),
    stageDuration: new Histogram({
      name: "asu_build_stage_duration_seconds",
      help: "Time a build spent in each stage (init, container_setup, validate_revision, validate_manifest, building_image)",
      labelNames: ["stage"],
      buckets: STAGE_BUCKETS,
      registers,
    }),
    buildsRunning: new Gauge({
      name: "asu_worker_builds_running",
      help: "Builds this worker runs now",
      registers,
    }),
    workerBusy: new Gauge({
      name: "asu_worker_busy",
      help: "1 while this worker runs a build, 0 while it is idle",
      registers,
    }),
    buildFailures: new Counter({
      name: "asu_build_failures_total",
      help: "Failed build attempts by kind (request, infrastructure) and reason; infrastructure failures are retried",
      labelNames: ["kind", "reason"],
      registers,
    }),
    fallbackBuilds: new Counter({
      name: "asu_build_fallback_total",
      help: "Release builds that ran in the target's snapshot image because the release image did not exist",
      registers,
    }),
    registryChecks: new Counter({
      name: "asu_image_registry_checks_total",
      help: "ImageBuilder image pulls asked of the registry, by outcome (pulled, failed)",
      labelNames: ["outcome"],
      registers,
    }),
    podmanAvailable: new Gauge({
      name: "asu_worker_podman_available",
      help: "1 while this worker reaches its Podman API; 0 while it cannot and takes no jobs",
      registers,
    }),
  };
  metrics.workerBusy.set(0);
  metrics.buildsRunning.set(0);
  metrics.podmanAvailable.set(1);
  return metrics;
});
