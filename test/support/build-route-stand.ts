import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import {
  BUILD_QUEUE,
  type BuildJobData,
  type BuildQueue,
  type BuildResult,
  createBuildQueue,
  KEY_PREFIX,
} from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import {
  createMetadataClient,
  createOpenwrtCatalog,
  type MetadataClient,
  type OpenwrtCatalog,
} from "@asu/upstream";
import { type Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { BuildRouteDeps } from "../../packages/build-tier/src/build-routes.ts";
import type { EtaSource } from "../../packages/build-tier/src/eta-source.ts";
import { NO_PACKAGE_CHECK } from "../../packages/build-tier/src/package-check.ts";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.ts";
import { type RedisServer, startRedisServer } from "./redis-server.ts";
import { silentLogger } from "./silent-logger.ts";

/*
 * What the build tier's route tests stand on: a real Redis, the fake
 * upstream, the build queue, and BullMQ workers whose processor the test
 * writes. Each test file composes its own app on it (the routes it tests,
 * with the settings it needs), so what a file tests stays in that file.
 */

/** The build routes' settings the tests start from; a file spreads its own over them. */
export const BUILD_ROUTE_SETTINGS = {
  allow_defaults: false,
  repository_allow_list: [] as string[],
  max_custom_rootfs_size_mb: 1024,
  max_defaults_length: 20480,
  build_ttl: 3600,
  build_ttl_unversioned: 3600,
  build_defaults_ttl: 3600,
  build_failure_ttl: 3600,
  base_container: "ghcr.io/openwrt/imagebuilder",
  max_pending_jobs: 10,
};

/** A request the fake upstream's 24.10.0 can build. */
export const ARCHER = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink_archer-c7-v5",
  packages: ["luci"],
};

export interface BuildRouteStand {
  redisServer: RedisServer;
  /** The tier's client, and the queue on it. */
  redis: Redis;
  queue: BuildQueue;
  upstream: FakeUpstream;
  /** A new metadata client and catalogue: each keeps its own cache, as a new tier does. */
  catalog(): { client: MetadataClient; catalog: OpenwrtCatalog };
  /** A BullMQ worker on the build queue running `processor`, on a connection of its own. */
  worker(
    processor: (job: Job<BuildJobData>) => Promise<BuildResult>,
  ): Worker<BuildJobData, BuildResult>;
  /** Closes the workers started so far (between tests, so none takes the next test's jobs). */
  closeWorkers(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBuildRouteStand(): Promise<BuildRouteStand> {
  const redisServer = await startRedisServer();
  const redis = redisServer.client();
  const upstream = await startFakeUpstream();
  const queue = createBuildQueue({ connection: redis });
  let workers: Worker<BuildJobData, BuildResult>[] = [];

  const closeWorkers = async () => {
    const closing = workers;
    workers = [];
    await Promise.all(closing.map((worker) => worker.close(true)));
  };

  return {
    redisServer,
    redis,
    queue,
    upstream,
    catalog() {
      const client = createMetadataClient({ upstreamUrl: upstream.url });
      return { client, catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES }) };
    },
    worker(processor) {
      const worker = new Worker<BuildJobData, BuildResult>(BUILD_QUEUE, processor, {
        connection: redisServer.client(),
        prefix: KEY_PREFIX,
      });
      workers.push(worker);
      return worker;
    },
    closeWorkers,
    async stop() {
      await closeWorkers();
      await queue.close();
      await upstream.close();
      await redisServer.stop();
    },
  };
}

/** Estimates that add nothing: a route test's 202 bodies are what the queue says. */
export const NO_ESTIMATES: EtaSource = {
  of: async () => undefined,
  newBuild: async () => undefined,
  annotate: async (answer) => answer,
};

/** A store that has every file: a finished build is answered as done. */
export const KEEPS_EVERYTHING: BuildRouteDeps["store"] = { has: async () => true };

/**
 * The build routes' dependencies on the stand: its Redis, queue and a new
 * catalogue, with small fakes where a file does not test that part (no wait
 * estimates, a store that keeps everything, no package check); statistics
 * as `settings.server_stats` says. A file passes the real ones it tests.
 */
export function buildRouteDeps(
  stand: BuildRouteStand,
  settings: BuildRouteDeps["settings"] & { server_stats?: boolean },
  overrides: Partial<BuildRouteDeps> = {},
): BuildRouteDeps {
  const { client, catalog } = stand.catalog();
  return {
    catalog,
    client,
    queue: stand.queue,
    redis: stand.redis,
    settings,
    eta: NO_ESTIMATES,
    store: KEEPS_EVERYTHING,
    stats: createStatsRecorder(stand.redis, { enabled: settings.server_stats === true }),
    packageCheck: NO_PACKAGE_CHECK,
    logger: silentLogger("build-routes"),
    ...overrides,
  };
}

export interface JsonAnswer {
  res: Response;
  status: number;
  body: any;
}

/** One request with a JSON body (a string is sent as it is), and its JSON answer. */
export async function callJson(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<JsonAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { res, status: res.status, body: text ? JSON.parse(text) : undefined };
}
