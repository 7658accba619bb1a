import { ConfigError, describeConfig, loadBranches, loadConfig } from "@asu/config";
import { stopOnSignals } from "@asu/http";
import { createLogger } from "@asu/observability";
import { createBuildQueue } from "@asu/queue";
import { createStoreFromConfig } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { serve } from "@hono/node-server";
import { Redis } from "ioredis";
import { createBuildApp } from "./build-app.ts";
import { startJanitor } from "./janitor.ts";

/** Waits a little for Redis so the first requests after start do not fail needlessly. */
async function redisReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === "ready") return true;
  return Promise.race([
    new Promise<boolean>((resolve) => redis.once("ready", () => resolve(true))),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref()),
  ]);
}

async function start() {
  const config = loadConfig({ defaults: { port: 8000 } });
  const logger = createLogger({ service: "build", level: config.log_level });
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
  const queue = createBuildQueue({ connection: redis });
  const store = createStoreFromConfig(config);
  const app = createBuildApp({
    catalog,
    client,
    queue,
    redis,
    store,
    settings: {
      ...config,
      maxCustomRootfsSizeMb: config.max_custom_rootfs_size_mb,
      maxDefaultsLength: config.max_defaults_length,
    },
    logger,
  });
  const janitor = startJanitor({
    redis,
    queue,
    store,
    failureTtlSeconds: config.build_failure_ttl,
    logger,
  });

  if (!(await redisReady(redis, 10_000))) {
    logger.warn({ redis_url: describeConfig(config).REDIS_URL }, "Redis not reachable yet");
  }
  const server = serve(
    { fetch: app.fetch, port: config.port ?? 8000, hostname: config.host },
    (info) => {
      logger.info(
        { url: `http://${info.address}:${info.port}`, config: describeConfig(config) },
        "build tier listening",
      );
    },
  );

  stopOnSignals(server, logger, async () => {
    janitor.stop();
    await queue.close();
    await redis.quit();
  });
}

start().catch((error) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
});
