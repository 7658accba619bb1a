import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "@asu/config";
import {
  createLogger,
  type Logger,
  type MetricsListener,
  metricsRegistry,
  serveMetrics,
} from "@asu/observability";
import {
  BUILD_QUEUE,
  type BuildJobData,
  type BuildResult,
  type Heartbeat,
  KEY_PREFIX,
  queueDepth,
  queueInstanceId,
  readWorkers,
  runningBuilds,
  settleWithin,
  slotTakesNext,
  startHeartbeat,
  WORKER_LOCK_SETTINGS,
} from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import { createStoreFromConfig } from "@asu/store";
import { Worker } from "bullmq";
import Docker from "dockerode";
import { Redis } from "ioredis";
import { type BuildSandbox, type SandboxConfig, sandboxFromConfig } from "./build-container.ts";
import { createBuildProcessor, type ProcessorDependencies } from "./build-processor.ts";
import { createCacheProbe } from "./cache-probe.ts";
import { checkContainerNetwork } from "./container-network.ts";
import { type ContainerPool, createContainerPool } from "./container-pool.ts";
import { type BuildKey, loadBuildKey } from "./image-signing.ts";
import { removeLeftovers } from "./imagebuilder-session.ts";
import {
  type GuardState,
  networkGuardVerdict,
  readNetworkGuard,
  UnguardedNetworkError,
} from "./network-guard-check.ts";
import { watchPodman } from "./podman-availability.ts";
import { containerSocketPath } from "./socket-path.ts";
import { type WorkerMetrics, workerMetrics } from "./worker-metrics.ts";

/** The settings a worker reads. */
export type WorkerConfig = Pick<
  Config,
  | "redis_url"
  | "public_path"
  | "store_backend"
  | "s3_endpoint"
  | "s3_access_key"
  | "s3_secret_key"
  | "s3_bucket"
  | "s3_region"
  | "container_socket_path"
  | "job_timeout"
  | "cache_url"
  | "log_level"
  | "worker_concurrency"
  | "warm_containers"
  | "image_pull"
  | "image_pull_interval"
  | "upstream_url"
  | "container_network"
  | "allow_unguarded_build_network"
  | "worker_shutdown_grace"
  | "build_key"
  | "server_stats"
  | "metrics_port"
  | "host"
> &
  SandboxConfig;

export interface StartWorkerOptions {
  config: WorkerConfig;
  logger?: Logger;
  /** Names this worker's containers and heartbeat; default `{hostname}-{pid}-{random}`. */
  workerId?: string;
  docker?: Docker;
  heartbeatIntervalMs?: number;
  /** How often an idle worker asks its Podman API whether it is there; default 10 s. */
  podmanCheckIntervalMs?: number;
  /** How often to look for build containers whose job runs nowhere; default a minute. */
  leftoverSweepMs?: number;
  /** Reads whether the build network is guarded; default: nft, or the build-guard container. */
  readGuard?: (docker: Docker, network: string) => Promise<GuardState>;
}

export interface RunningWorker {
  readonly id: string;
  readonly worker: Worker<BuildJobData, BuildResult>;
  /** Where this worker's Prometheus metrics are served; undefined when METRICS_PORT is 0 or taken. */
  readonly metricsUrl: string | undefined;
  /**
   * Stops taking jobs and lets running builds finish; after
   * WORKER_SHUTDOWN_GRACE their containers are removed and the jobs go back
   * to the queue for another worker. Resolves when everything is closed.
   */
  close(): Promise<void>;
}

/** A stuck container API must not keep a stopping worker alive forever. */
const CANCEL_GRACE_MS = 15_000;
const REDIS_GOODBYE_MS = 2000;
const LEFTOVER_SWEEP_MS = 60_000;

function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** What a worker is made of, once its clients exist: the steps below share it. */
interface WorkerParts {
  id: string;
  config: WorkerConfig;
  logger: Logger;
  docker: Docker;
  redis: Redis;
  queueId: string;
}

async function warnUnlessIsolated(docker: Docker, config: WorkerConfig, logger: Logger) {
  const network = await checkContainerNetwork(docker, config.container_network);
  if (!network.isolated) {
    logger.warn(
      { network: config.container_network },
      "the build network is not isolated: builds can reach containers on other networks (recreate it with podman network create --opt isolate=true)",
    );
  }
}

/** Refuses to start on a build network that reaches the host's services, unless allowed. */
async function checkNetworkGuard(options: StartWorkerOptions, docker: Docker, logger: Logger) {
  const { config } = options;
  const guard = networkGuardVerdict(
    config.container_network,
    await (options.readGuard ?? readNetworkGuard)(docker, config.container_network),
    config.allow_unguarded_build_network,
  );
  logger[guard.level]({ network: config.container_network }, guard.message);
  if (!guard.start) throw new UnguardedNetworkError(guard.message);
}

/**
 * Removes containers of this id (at start only: later they are this worker's
 * running builds), past the job timeout, or of this queue whose job runs on
 * no worker (a worker killed, or cut off from Podman, mid-build).
 */
function leftoverSweeper({ id, config, logger, docker, redis, queueId }: WorkerParts) {
  return async (withOwn: boolean) => {
    const removed = await removeLeftovers(docker, {
      workerId: withOwn ? id : undefined,
      olderThanSeconds: config.job_timeout + 60,
      queueId,
      running: (hashes) => runningBuilds(redis, hashes),
      onlineWorkers: async () => new Set((await readWorkers(redis)).map((worker) => worker.id)),
    });
    if (removed.length > 0)
      logger.warn({ containers: removed }, "removed leftover build containers");
  };
}

/** The sweep every `ms`, one at a time. */
function sweepEvery(ms: number, sweep: (withOwn: boolean) => Promise<void>, logger: Logger) {
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweep(false)
      .catch((error: Error) => logger.warn({ err: error.message }, "leftover sweep failed"))
      .finally(() => {
        sweeping = false;
      });
  }, ms);
  timer.unref();
  return timer;
}

function warmPool(parts: WorkerParts, sandbox: BuildSandbox) {
  const { config, docker, redis, logger } = parts;
  if (!config.warm_containers) return undefined;
  return createContainerPool({
    docker,
    size: config.worker_concurrency,
    spec: {
      workerId: parts.id,
      queueId: parts.queueId,
      jobTimeoutSeconds: config.job_timeout,
      network: config.container_network,
      sandbox,
    },
    followed: async () => slotTakesNext(await queueDepth(redis)),
    onError: (error) => logger.warn({ err: error.message }, "warm container failed"),
  });
}

/** Takes no jobs while the Podman API is away; `consumer` is the BullMQ worker once it exists. */
function podmanWatchOf(
  parts: WorkerParts,
  options: StartWorkerOptions,
  deps: {
    metrics: WorkerMetrics;
    heartbeat: Heartbeat;
    pool: ContainerPool | undefined;
    consumer: () => Worker<BuildJobData, BuildResult> | undefined;
  },
) {
  const { logger } = parts;
  return watchPodman({
    ping: () => parts.docker.ping(),
    checkIntervalMs: options.podmanCheckIntervalMs,
    onDown() {
      logger.error("podman API unreachable: taking no jobs until it answers");
      deps.metrics.podmanAvailable.set(0);
      deps.heartbeat.builders(false);
      void deps
        .consumer()
        ?.pause(true)
        .catch(() => {});
      // Whatever Podman comes back as, these may not be in it.
      void deps.pool?.discard();
    },
    onUp() {
      logger.info("podman API answers again: taking jobs");
      deps.metrics.podmanAvailable.set(1);
      deps.heartbeat.builders(true);
      deps.consumer()?.resume();
    },
  });
}

/** The settings a build reads, from the worker's configuration. */
function buildSettings(
  config: WorkerConfig,
  sandbox: BuildSandbox,
  buildKey: BuildKey | undefined,
) {
  return {
    sandbox,
    jobTimeoutSeconds: config.job_timeout,
    imagePull: config.image_pull,
    imagePullIntervalSeconds: config.image_pull_interval,
    upstreamUrl: config.upstream_url,
    network: config.container_network,
    cacheUrl: config.cache_url,
    cacheReachable: config.cache_url ? createCacheProbe(config.cache_url) : undefined,
    buildKey,
  };
}

/** The BullMQ processor on the worker's clients; each build's clean-up is kept until it ends. */
function processorOf(
  { id, config, logger, docker, redis, queueId }: WorkerParts,
  deps: Pick<
    ProcessorDependencies,
    "store" | "pool" | "heartbeat" | "podman" | "metrics" | "settings"
  > & {
    cleanups: Set<Promise<void>>;
  },
) {
  const { cleanups, store } = deps;
  return createBuildProcessor({
    afterBuild: (cleanup) => {
      cleanups.add(cleanup);
      void cleanup.finally(() => cleanups.delete(cleanup));
    },
    docker,
    pool: deps.pool,
    redis,
    store,
    storeRoot: store.stagingRoot,
    workerId: id,
    queueId,
    settings: deps.settings,
    logger,
    heartbeat: deps.heartbeat,
    podman: deps.podman,
    metrics: deps.metrics,
    stats: createStatsRecorder(redis, {
      enabled: config.server_stats,
      onError: (error) => logger.warn({ err: error.message }, "recording statistics failed"),
    }),
  });
}

/** Metrics must never keep a worker from building: a taken port is a warning. */
async function serveWorkerMetrics(
  { config, logger }: WorkerParts,
  registry: ReturnType<typeof metricsRegistry>,
  heartbeat: Heartbeat,
): Promise<MetricsListener | undefined> {
  if (config.metrics_port <= 0) return undefined;
  return serveMetrics(registry, {
    port: config.metrics_port,
    host: config.host,
    // The container healthcheck: healthy while the build tier sees this worker online.
    healthy: () => heartbeat.fresh(),
  }).catch((error: Error) => {
    logger.warn({ err: error.message, port: config.metrics_port }, "metrics not served");
    return undefined;
  });
}

/**
 * Waits for the given work until WORKER_SHUTDOWN_GRACE, then cancels the
 * running builds, and at last abandons them; the timers are returned to be cleared.
 */
function abandonAfterGrace(parts: WorkerParts, worker: Worker<BuildJobData, BuildResult>) {
  const { config, logger } = parts;
  const timers: NodeJS.Timeout[] = [];
  const later = (ms: number, action: () => void) => timers.push(setTimeout(action, ms));
  // Last resort when the container API does not answer: stop waiting; the
  // job's lock then expires and the stalled-job check hands it to another worker.
  const abandoned = new Promise<void>((resolve) => {
    later(config.worker_shutdown_grace * 1000, () => {
      logger.warn("grace period over: handing running builds back to the queue");
      worker.cancelAllJobs("worker stopping");
      later(CANCEL_GRACE_MS, () => {
        logger.error("running builds did not stop: abandoning them");
        void removeLeftovers(parts.docker, {
          workerId: parts.id,
          olderThanSeconds: Number.POSITIVE_INFINITY,
        })
          .catch(() => {})
          .finally(resolve);
      });
    });
  });
  return { abandoned, timers };
}

interface Running {
  worker: Worker<BuildJobData, BuildResult>;
  heartbeat: Heartbeat;
  podman: { stop(): void };
  pool: ContainerPool | undefined;
  cleanups: Set<Promise<void>>;
  sweepTimer: NodeJS.Timeout;
  metricsListener: MetricsListener | undefined;
}

async function stopWorker(parts: WorkerParts, running: Running): Promise<void> {
  const { config, logger, redis } = parts;
  const { worker, heartbeat } = running;
  clearInterval(running.sweepTimer);
  heartbeat.stopping();
  running.podman.stop();
  logger.info({ grace_s: config.worker_shutdown_grace }, "worker stopping");
  const { abandoned, timers } = abandonAfterGrace(parts, worker);
  try {
    await Promise.race([worker.close(), abandoned]);
    await Promise.race([
      Promise.allSettled([...running.cleanups, running.pool?.close()]),
      abandoned,
    ]);
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await running.metricsListener?.close();
    // With Redis gone these would wait forever (BullMQ's connection queues
    // commands until it returns); a stopping worker must still stop.
    await settleWithin(heartbeat.stop(), REDIS_GOODBYE_MS);
    await settleWithin(redis.quit(), REDIS_GOODBYE_MS);
    redis.disconnect();
    logger.info("worker stopped");
  }
}

/** The worker's clients: Docker (its network checked), Redis, and the queue's id. */
async function connect(options: StartWorkerOptions, id: string) {
  const { config } = options;
  const logger = (
    options.logger ?? createLogger({ service: "worker", level: config.log_level })
  ).child({ worker_id: id });
  const docker =
    options.docker ?? new Docker({ socketPath: containerSocketPath(config.container_socket_path) });
  const buildKey = await loadBuildKey(config.build_key);
  await warnUnlessIsolated(docker, config, logger);
  await checkNetworkGuard(options, docker, logger);
  // BullMQ needs maxRetriesPerRequest: null for its blocking commands.
  const redis = new Redis(config.redis_url, { maxRetriesPerRequest: null });
  redis.on("error", (error) => logger.warn({ err: error.message }, "redis connection error"));
  const queueId = await queueInstanceId(redis);
  const parts: WorkerParts = { id, config, logger, docker, redis, queueId };
  return { parts, buildKey };
}

/** Starts one worker: the BullMQ consumer of the build queue, its heartbeat and its clean-up. */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { config } = options;
  const id = options.workerId ?? defaultWorkerId();
  const { parts, buildKey } = await connect(options, id);
  const { logger, redis } = parts;
  const sweepLeftovers = leftoverSweeper(parts);
  await sweepLeftovers(true);

  const heartbeat: Heartbeat = startHeartbeat(redis, {
    workerId: id,
    concurrency: config.worker_concurrency,
    intervalMs: options.heartbeatIntervalMs,
    onError: (error) => logger.warn({ err: error.message }, "heartbeat failed"),
  });
  const store = createStoreFromConfig(config);
  const registry = metricsRegistry({ worker: id });
  const metrics = workerMetrics(registry);
  const sandbox = sandboxFromConfig(config);
  const pool = warmPool(parts, sandbox);
  const cleanups = new Set<Promise<void>>();
  // Set once the BullMQ worker exists; an outage before that has no jobs to hand back.
  let consumer: Worker<BuildJobData, BuildResult> | undefined;
  const podman = podmanWatchOf(parts, options, {
    metrics,
    heartbeat,
    pool,
    consumer: () => consumer,
  });
  const processor = processorOf(parts, {
    store,
    pool,
    heartbeat,
    podman,
    metrics,
    settings: buildSettings(config, sandbox, buildKey),
    cleanups,
  });

  const worker = new Worker<BuildJobData, BuildResult>(BUILD_QUEUE, processor, {
    connection: redis,
    prefix: KEY_PREFIX,
    concurrency: config.worker_concurrency,
    ...WORKER_LOCK_SETTINGS,
  });
  consumer = worker;
  worker.on("error", (error) => logger.error({ err: error.message }, "worker error"));
  await worker.waitUntilReady();
  const sweepTimer = sweepEvery(
    options.leftoverSweepMs ?? LEFTOVER_SWEEP_MS,
    sweepLeftovers,
    logger,
  );
  const metricsListener = await serveWorkerMetrics(parts, registry, heartbeat);
  logger.info(
    {
      concurrency: config.worker_concurrency,
      image_pull: config.image_pull,
      metrics: metricsListener?.url,
    },
    "worker started",
  );

  const running = { worker, heartbeat, podman, pool, cleanups, sweepTimer, metricsListener };
  let closing: Promise<void> | undefined;
  return {
    id,
    worker,
    metricsUrl: metricsListener?.url,
    close() {
      closing ??= stopWorker(parts, running);
      return closing;
    },
  };
}
