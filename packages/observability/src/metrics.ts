import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/*
 * Prometheus metrics. Every name ASU exports is defined here, except the
 * HTTP request metrics, which live with the API frame (packages/http). No
 * Hono here: the worker, which serves no API, uses these too. Each app (and each worker) has its
 * own registry, so several of them can live in one process (tests, the
 * one-process server); the Node process metrics are one shared registry
 * appended to every answer.
 */

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const registries = new WeakMap<object, Registry>();

/** The registry of an app or worker, made on first use. */
export function metricsRegistry(owner: object): Registry {
  let registry = registries.get(owner);
  if (!registry) {
    registry = new Registry();
    registries.set(owner, registry);
  }
  return registry;
}

let processRegistry: Registry | undefined;

/** CPU, memory, event loop lag, GC: once per process, however many apps it runs. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The Prometheus text of a registry, followed by the process metrics. */
export async function metricsText(registry: Registry): Promise<string> {
  return `${await registry.metrics()}\n${await processMetrics().metrics()}`;
}

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

/** A counter whose value is read from elsewhere when Prometheus scrapes it. */
function collectedCounter(registry: Registry, name: string, help: string, read: () => number) {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * A gauge read at scrape time, one series per label value: queue depth by
 * state, workers by state. A failed read leaves the gauge empty for that
 * scrape (Prometheus shows the gap) instead of failing the whole answer.
 */
export function registerCollectedGauge(
  registry: Registry,
  options: {
    name: string;
    help: string;
    labelName: string;
    read: () => Promise<Record<string, number>>;
    onError?: (error: Error) => void;
  },
): void {
  if (registry.getSingleMetric(options.name)) return;
  new Gauge({
    name: options.name,
    help: options.help,
    labelNames: [options.labelName],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const [label, value] of Object.entries(await options.read())) {
          this.set({ [options.labelName]: label }, value);
        }
      } catch (error) {
        options.onError?.(error as Error);
      }
    },
  });
}

/** A counter bumped on a hot path: a plain number, read by the registry when scraped. */
function plainCounter(registry: Registry, name: string, help: string): { inc(): void } {
  let value = 0;
  collectedCounter(registry, name, help, () => value);
  return {
    inc() {
      value += 1;
    },
  };
}

/** Made once per registry, so registering twice on one app cannot collide. */
function oncePerRegistry<T>(make: (registry: Registry) => T): (registry: Registry) => T {
  const made = new WeakMap<Registry, T>();
  return (registry) => {
    let value = made.get(registry);
    if (value === undefined) {
      value = make(registry);
      made.set(registry, value);
    }
    return value;
  };
}

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

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

export interface ServeMetricsOptions {
  port: number;
  host: string;
  /**
   * Answers `GET /health`: 200 `{"status":"ok"}` while true, else 503
   * `{"status":"error"}`, so a container healthcheck is one fetch.
   */
  healthy?: () => boolean;
}

/**
 * `GET /metrics` (and `/health` when given) on its own port, for processes
 * without an HTTP API (the worker). Anything else is 404.
 */
export async function serveMetrics(
  registry: Registry,
  options: ServeMetricsOptions,
): Promise<MetricsListener> {
  const { healthy } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    const readable = request.method === "GET" || request.method === "HEAD";
    if (path === "/health" && healthy && readable) {
      const ok = healthy();
      response.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      response.end(
        request.method === "HEAD" ? undefined : JSON.stringify({ status: ok ? "ok" : "error" }),
      );
      return;
    }
    if (path !== "/metrics" || !readable) {
      response.writeHead(404, { "content-type": "text/plain" }).end("Not Found\n");
      return;
    }
    metricsText(registry).then(
      (text) => {
        response.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
        response.end(request.method === "HEAD" ? undefined : text);
      },
      () => response.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
