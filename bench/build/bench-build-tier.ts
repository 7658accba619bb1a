// The real build tier of the build benches: the fixture upstream, a private
// Redis and the app with the settings they all share; each bench adds what
// it measures (indexes, a finished build, its own queue limit).
import { Writable } from "node:stream";
import { createLogger } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { createBuildQueue } from "@asu/queue";
import { createStatsRecorder } from "@asu/stats";
import { createLocalStore } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { Redis } from "ioredis";
import { createBuildApp } from "../../packages/build-tier/src/build-app.ts";
import { type FakeUpstream, startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { startRedisServer } from "../../test/support/redis-server.ts";

/**
 * Where the benches' local store lives. Every bench's finished build has the
 * same hash, so a bench that writes into it (bench:front-door puts an image
 * there) gives its build tier a folder of its own through the environment.
 */
export const BENCH_PUBLIC_PATH = process.env.BENCH_PUBLIC_PATH ?? "/tmp/asu-bench-public";

type BuildAppSettings = Parameters<typeof createBuildApp>[0]["settings"];

export async function startBenchBuildTier(options: {
  settings: Partial<BuildAppSettings>;
  /** Runs before the app reads upstream, e.g. to publish package indexes. */
  prepareUpstream?: (upstream: FakeUpstream) => void;
}) {
  const upstream = await startFakeUpstream();
  options.prepareUpstream?.(upstream);
  const redisServer = await startRedisServer();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await new Promise((resolve) => redis.once("ready", resolve));
  const client = createMetadataClient({ upstreamUrl: upstream.url });
  const queue = createBuildQueue({ connection: redis });
  const logger = createLogger({
    service: "build",
    destination: new Writable({ write: (_c, _e, done) => done() }),
  });
  const app = createBuildApp({
    stats: createStatsRecorder(redis, { enabled: false }),
    catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES }),
    client,
    queue,
    redis,
    store: createLocalStore(BENCH_PUBLIC_PATH),
    settings: {
      allow_defaults: false,
      repository_allow_list: [],
      max_custom_rootfs_size_mb: 1024,
      max_defaults_length: 20480,
      build_ttl: 86_400,
      build_ttl_unversioned: 86_400,
      build_defaults_ttl: 86_400,
      build_failure_ttl: 86_400,
      base_container: "ghcr.io/openwrt/imagebuilder",
      max_pending_jobs: 200,
      upstream_url: upstream.url,
      ...options.settings,
    },
    logger,
  });
  return { upstream, redisServer, redis, queue, app };
}
