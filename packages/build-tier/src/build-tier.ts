import { type Config, loadBranches } from "@asu/config";
import type { ApiApp } from "@asu/http";
import { type Logger, metricsRegistry } from "@asu/observability";
import { type BuildQueue, createBuildQueue } from "@asu/queue";
import { createPopularRequests, createStatsRecorder, type PopularRequests } from "@asu/stats";
import { type BuildStore, createStoreFromConfig } from "@asu/store";
import {
  createMetadataClient,
  createOpenwrtCatalog,
  createPackageIndexes,
  type MetadataClient,
  type OpenwrtCatalog,
  type PackageIndexes,
} from "@asu/upstream";
import { Redis } from "ioredis";
import { createBuildApp } from "./build-app.ts";
import { createBuildCacheLookup } from "./build-cache-route.ts";
import { type Janitor, startJanitor } from "./janitor.ts";
import { createReleaseWatcher, type ReleaseWatcher } from "./release-watcher.ts";

export interface BuildTierOptions {
  config: Config;
  logger: Logger;
  version?: string;
}

/** The build tier, composed: what `pnpm start:build` serves and `pnpm start` serves with prepare. */
export interface BuildTier {
  /** The public app: everything clients ask for. */
  app: ApiApp;
  /** Which of these hashes are built, as `POST /api/v1/build-cache` answers: for a prepare tier in this process. */
  lookup(hashes: readonly string[]): Promise<Record<string, boolean>>;
  redis: Redis;
  queue: BuildQueue;
  store: BuildStore;
  client: MetadataClient;
  catalog: OpenwrtCatalog;
  /** The indexes requests are checked against; undefined when PACKAGE_CHECK is off. */
  indexes: PackageIndexes | undefined;
  janitor: Janitor;
  /** Popular release requests (RELEASE_PREBUILDS per branch). */
  popular: PopularRequests;
  /** Notices new releases every VERSIONS_REFRESH and prebuilds their popular requests. */
  releases: ReleaseWatcher;
  /** Whether Redis answers within `timeoutMs`: a start waits this long before serving. */
  ready(timeoutMs: number): Promise<boolean>;
  /** Stops the janitor, then closes the queue and the Redis client. */
  close(): Promise<void>;
}

function redisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off("ready", onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    redis.once("ready", onReady);
  });
}

/** The tier's clients: Redis, upstream metadata and catalogue, package indexes, queue, store. */
function createClients(config: Config, logger: Logger) {
  // Fail fast instead of queueing commands while Redis is away: answers
  // become 503s with a reason, never requests that hang.
  const redis = new Redis(config.redis_url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: 5000,
  });
  redis.on("error", (error) => logger.warn({ err: error.message }, "redis connection error"));
  const client = createMetadataClient({
    upstreamUrl: config.upstream_url,
    timeoutMs: config.upstream_timeout * 1000,
    logger,
  });
  const catalog = createOpenwrtCatalog({ client, branches: loadBranches(config.branches_file) });
  const indexes = config.package_check
    ? createPackageIndexes({ client, branches: catalog.branches })
    : undefined;
  const queue = createBuildQueue({ connection: redis });
  const store = createStoreFromConfig(config);
  return { redis, client, catalog, indexes, queue, store };
}

/**
 * One build tier from the configuration: its Redis client, the metadata
 * client and catalogue, the package indexes, the queue, the store, the app
 * and the janitor. Nothing waits for Redis here: the caller decides how
 * long to wait before serving.
 */
export function createBuildTier(options: BuildTierOptions): BuildTier {
  const { config, logger } = options;
  const { redis, client, catalog, indexes, queue, store } = createClients(config, logger);
  const popular = createPopularRequests(redis, {
    limit: config.release_prebuilds,
    onError: (error) => logger.warn({ err: error.message }, "recording popular requests failed"),
  });
  const stats = createStatsRecorder(redis, {
    enabled: config.server_stats,
    onError: (error) => logger.warn({ err: error.message }, "recording statistics failed"),
  });
  const app = createBuildApp({
    popular,
    stats,
    catalog,
    client,
    queue,
    redis,
    store,
    indexes,
    settings: config,
    logger,
    ...(options.version ? { version: options.version } : {}),
  });
  const janitor = startJanitor({
    redis,
    queue,
    store,
    failureTtlSeconds: config.build_failure_ttl,
    logger,
  });
  const releases = createReleaseWatcher({
    redis,
    client,
    catalog,
    queue,
    popular,
    settings: config,
    registry: metricsRegistry(app),
    stats,
    logger,
  });
  const stopPopular = popular.start();
  const stopReleases = releases.start(config.versions_refresh * 1000);
  return {
    app,
    popular,
    releases,
    lookup: createBuildCacheLookup({ queue, redis, store }),
    ready: (timeoutMs) => redisReady(redis, timeoutMs),
    redis,
    queue,
    store,
    client,
    catalog,
    indexes,
    janitor,
    async close() {
      janitor.stop();
      stopReleases();
      stopPopular();
      await popular.flush().catch(() => {});
      await queue.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
