import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type Config, loadConfig } from "@asu/config";
import type { ApiApp } from "@asu/http";
import { createLogger, type Logger } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { type BuildQueue, createBuildQueue } from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import { createStoreFromConfig } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog, createPackageIndexes } from "@asu/upstream";
import Docker from "dockerode";
import { Redis } from "ioredis";
import { type BuildAppDeps, createBuildApp } from "../../packages/build-tier/src/build-app.ts";
import { type RunningWorker, startWorker } from "../../packages/build-worker/src/worker.ts";
import { createBuildCacheProbe } from "../../packages/prepare-tier/src/build-cache-probe.ts";
import { createPrepareApp } from "../../packages/prepare-tier/src/prepare-app.ts";
import { publishDoubleIndexes } from "./double-indexes.ts";
import { type FakeUpstream, FIXTURE_REVISION_24_10, startFakeUpstream } from "./fake-upstream.ts";
import { buildImagebuilderDouble, type ImagebuilderDoubleOptions } from "./imagebuilder-double.ts";
import { type PodmanService, startPodmanService } from "./podman-service.ts";
import { type RedisServer, startRedisServer } from "./redis-server.ts";
import { type ServedApp, serveApp } from "./serve-app.ts";

/** The ImageBuilder double most end-to-end tests build with: 24.10.0 ath79/generic, opkg. */
export const ATH79_24_10_DOUBLE = {
  tag: "v24.10.0",
  flavour: "opkg",
  version: "24.10.0",
  revision: FIXTURE_REVISION_24_10,
  target: "ath79/generic",
} as const;

export interface AsuStack {
  upstream: FakeUpstream;
  redis: RedisServer;
  podman: PodmanService;
  docker: Docker;
  buildUrl: string;
  prepareUrl: string;
  /** The build tier's queue, to see which jobs exist. */
  queue: BuildQueue;
  publicPath: string;
  /** Environment a worker process needs to join this stack (REDIS_URL, …). */
  workerEnv: Record<string, string>;
  config: Config;
  startWorker(overrides?: Partial<Config>): Promise<RunningWorker>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Distinct per test file, so files running side by side do not retag each other's images. */
  baseContainer: string;
  images: Omit<ImagebuilderDoubleOptions, "baseContainer">[];
  env?: Record<string, string>;
  /** Log to stderr instead of nowhere (for debugging a test). */
  verbose?: boolean;
  /** Adds routes to the build tier before it is served (capabilities not wired into it yet). */
  extendBuildApp?: (app: ApiApp, deps: BuildAppDeps) => void;
}

function quietLogger(service: string, verbose: boolean): Logger {
  return createLogger({
    service,
    level: verbose ? "debug" : "warn",
    destination: verbose ? process.stderr : new Writable({ write: (_c, _e, done) => done() }),
  });
}

/**
 * The whole server on one machine, for end-to-end tests: a fake upstream,
 * a private Redis, a Podman API service with test-double ImageBuilders, the
 * build and prepare tiers on real ports, and workers started on demand.
 */
export async function startAsuStack(options: StackOptions): Promise<AsuStack> {
  const verbose = options.verbose ?? process.env.ASU_TEST_VERBOSE === "1";
  const upstream = await startFakeUpstream();
  const redis = await startRedisServer();
  const podman = await startPodmanService();
  for (const image of options.images) {
    await buildImagebuilderDouble(podman, { ...image, baseContainer: options.baseContainer });
    await publishDoubleIndexes(upstream, image);
  }
  const publicPath = await mkdtemp(join(tmpdir(), "asu-e2e-public-"));
  const workerEnv = {
    REDIS_URL: redis.url,
    UPSTREAM_URL: upstream.url,
    PUBLIC_PATH: publicPath,
    CONTAINER_SOCKET_PATH: podman.socketPath,
    BASE_CONTAINER: options.baseContainer,
    IMAGE_PULL: "never",
    JOB_TIMEOUT: "120",
    // Several workers run side by side in tests: no metrics listener each.
    METRICS_PORT: "0",
    // The private Podman's build network is not guarded here: the guard is
    // tested on its own (worker-network-guard.e2e.test.ts, build-network.e2e).
    ALLOW_UNGUARDED_BUILD_NETWORK: "1",
    // Custom repositories served by the fake upstream may be requested.
    REPOSITORY_ALLOW_LIST: `${upstream.url}/custom/`,
    ...options.env,
  };
  const config = loadConfig({ env: workerEnv, tomlPath: "" });

  const buildRedis = new Redis(redis.url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  buildRedis.on("error", () => {});
  await new Promise((resolve) => buildRedis.once("ready", resolve));
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  const catalog = createOpenwrtCatalog({
    client,
    branches: DEFAULT_BRANCHES,
    missRefreshIntervalMs: 0,
  });
  const queue = createBuildQueue({ connection: buildRedis });
  // One reader for both tiers, as `pnpm start` shares it.
  const indexes = createPackageIndexes({ client, branches: DEFAULT_BRANCHES });
  // Prepare first, so the build tier's pages can be told where it is: the
  // tiers run on two origins here, as when they are deployed apart.
  let isBuilt = createBuildCacheProbe({ buildApiUrl: undefined });
  const prepare: ServedApp = await serveApp(
    createPrepareApp({
      catalog,
      indexes,
      settings: config,
      isBuilt: (requestHash) => isBuilt(requestHash),
      logger: quietLogger("prepare", verbose),
    }),
  );
  const buildDeps = {
    catalog,
    client,
    indexes,
    queue,
    redis: buildRedis,
    store: createStoreFromConfig(config),
    settings: {
      ...config,
      prepare_api_url: config.prepare_api_url ?? prepare.url,
    },
    logger: quietLogger("build", verbose),
    stats: createStatsRecorder(buildRedis, { enabled: config.server_stats }),
  };
  const buildApp = createBuildApp(buildDeps);
  options.extendBuildApp?.(buildApp, buildDeps);
  const build: ServedApp = await serveApp(buildApp);
  isBuilt = createBuildCacheProbe({ buildApiUrl: build.url });

  const workers: RunningWorker[] = [];
  return {
    upstream,
    redis,
    podman,
    docker: new Docker({ socketPath: podman.socketPath }),
    buildUrl: build.url,
    prepareUrl: prepare.url,
    queue,
    publicPath,
    workerEnv,
    config,
    async startWorker(overrides = {}) {
      const running = await startWorker({
        config: { ...config, ...overrides },
        logger: quietLogger("worker", verbose),
      });
      workers.push(running);
      return running;
    },
    async stop() {
      await Promise.all(workers.map((worker) => worker.close()));
      await isBuilt.close?.();
      await build.close();
      await prepare.close();
      await queue.close();
      buildRedis.disconnect();
      await redis.stop();
      await podman.stop();
      await upstream.close();
      await rm(publicPath, { recursive: true, force: true });
    },
  };
}

/** Polls a build's status until it is no longer 202, as the clients do (faster). */
export async function waitForBuild(
  buildUrl: string,
  requestHash: string,
  timeoutMs = 120_000,
): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${buildUrl}/api/v1/build/${requestHash}`);
    const body = (await res.json()) as any;
    if (res.status !== 202) return { status: res.status, body };
    if (Date.now() > deadline) throw new Error(`build ${requestHash} still ${body.detail}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
