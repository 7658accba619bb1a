// The real build tier for cache-miss POSTs: fixture upstream with package
// indexes of real size, a private Redis, no worker (every POST enqueues a
// new job). PACKAGE_CHECK=false turns the availability check off.
import { Writable } from "node:stream";
import { DEFAULT_BRANCHES } from "@asu/core";
import { createLogger } from "@asu/http";
import { createBuildQueue } from "@asu/queue";
import { createLocalStore } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { serve } from "@hono/node-server";
import { Redis } from "ioredis";
import { createBuildApp } from "../../services/build/src/build-app.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { startRedisServer } from "../../test/support/redis-server.ts";
import { publishBenchIndexes } from "./bench-indexes.ts";
import { request } from "./request.ts";

const upstream = await startFakeUpstream();
publishBenchIndexes(upstream);

const redisServer = await startRedisServer();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
await new Promise((resolve) => redis.once("ready", resolve));
const client = createMetadataClient({ upstreamUrl: upstream.url });
const queue = createBuildQueue({ connection: redis });
const app = createBuildApp({
  catalog: createOpenwrtCatalog({ client, branches: DEFAULT_BRANCHES }),
  client,
  queue,
  redis,
  store: createLocalStore("/tmp/asu-bench-public"),
  settings: {
    allow_defaults: false,
    repository_allow_list: [],
    maxCustomRootfsSizeMb: 1024,
    maxDefaultsLength: 20480,
    build_ttl: 86_400,
    build_ttl_unversioned: 86_400,
    build_defaults_ttl: 86_400,
    build_failure_ttl: 86_400,
    base_container: "ghcr.io/openwrt/imagebuilder",
    // Every POST is a new build and none is taken: the queue must not refuse them.
    max_pending_jobs: 1_000_000_000,
    upstream_url: upstream.url,
    package_check: process.env.PACKAGE_CHECK !== "false",
  },
  logger: createLogger({
    service: "build",
    destination: new Writable({ write: (_c, _e, done) => done() }),
  }),
});

const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" },
  async () => {
    // One request first, so upstream files are fetched and parsed before the load.
    const res = await fetch(`http://127.0.0.1:${process.env.PORT}/api/v1/build`, {
      method: "POST",
      body: JSON.stringify({ ...request, version_code: "r0-warmup" }),
    });
    if (res.status !== 202) throw new Error(`warm-up answered ${res.status}: ${await res.text()}`);
    process.stdout.write("ready x\n");
  },
);

// Leave no redis-server behind.
process.once("SIGTERM", async () => {
  server.close();
  await queue.close();
  redis.disconnect();
  await redisServer.stop();
  await upstream.close();
  process.exit(0);
});
