// The real build tier for cache-miss POSTs: fixture upstream with package
// indexes of real size, a private Redis, no worker (every POST enqueues a
// new job). PACKAGE_CHECK=false turns the availability check off.
import { serve } from "@hono/node-server";
import { startBenchBuildTier } from "./bench-build-tier.ts";
import { publishBenchIndexes } from "./bench-indexes.ts";
import { request } from "./request.ts";

const { upstream, redisServer, redis, queue, app } = await startBenchBuildTier({
  prepareUpstream: publishBenchIndexes,
  settings: {
    // Every POST is a new build and none is taken: the queue must not refuse them.
    max_pending_jobs: 1_000_000_000,
    package_check: process.env.PACKAGE_CHECK !== "false",
  },
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
