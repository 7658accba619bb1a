// The real build tier against the fixture upstream and a private Redis,
// with one finished build in the queue so POST and GET are cache hits.
import { Writable } from "node:stream";
import { DEFAULT_BRANCHES, requestHash } from "@asu/core";
import { createLogger } from "@asu/http";
import {
  BUILD_QUEUE,
  type BuildJobData,
  type BuildResult,
  createBuildQueue,
  KEY_PREFIX,
} from "@asu/queue";
import { createLocalStore } from "@asu/store";
import { createMetadataClient, createOpenwrtCatalog } from "@asu/upstream";
import { serve } from "@hono/node-server";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { createBuildApp } from "../../services/build/src/build-app.ts";
import { startFakeUpstream } from "../../test/support/fake-upstream.ts";
import { startRedisServer } from "../../test/support/redis-server.ts";
import { request } from "./request.ts";

const upstream = await startFakeUpstream();
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
    max_pending_jobs: 200,
    upstream_url: upstream.url,
  },
  logger: createLogger({
    service: "build",
    destination: new Writable({ write: (_c, _e, done) => done() }),
  }),
});

// A finished build with a realistic result size (a manifest of ~150 packages).
const manifest = Object.fromEntries(
  Array.from({ length: 150 }, (_, i) => [`package-${i}`, `1.${i}.0-r1`]),
);
const worker = new Worker<BuildJobData, BuildResult>(
  BUILD_QUEUE,
  async (job) => ({
    bin_dir: job.data.requestHash,
    manifest,
    images: [{ name: "openwrt-sysupgrade.bin", type: "sysupgrade", sha256: "0".repeat(64) }],
    id: job.data.request.profile,
  }),
  { connection: new Redis(redisServer.url, { maxRetriesPerRequest: null }), prefix: KEY_PREFIX },
);
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" });
const res = await fetch(`http://127.0.0.1:${process.env.PORT}/api/v1/build`, {
  method: "POST",
  body: JSON.stringify(request),
});
const { request_hash: hash } = (await res.json()) as { request_hash: string };
for (;;) {
  const poll = await fetch(`http://127.0.0.1:${process.env.PORT}/api/v1/build/${hash}`);
  await poll.arrayBuffer();
  if (poll.status === 200) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await worker.close();
process.stdout.write(`ready ${hash}\n`);

process.once("SIGTERM", async () => {
  server.close();
  await queue.close();
  redis.disconnect();
  await redisServer.stop();
  await upstream.close();
  process.exit(0);
});
void requestHash;
