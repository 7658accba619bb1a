// The real build tier against the fixture upstream and a private Redis,
// with one finished build in the queue so POST and GET are cache hits.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { requestHash } from "@asu/contract";
import { BUILD_QUEUE, type BuildJobData, type BuildResult, KEY_PREFIX } from "@asu/queue";
import { serve } from "@hono/node-server";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { BENCH_PUBLIC_PATH, startBenchBuildTier } from "./bench-build-tier.ts";
import { request } from "./request.ts";

const { upstream, redisServer, redis, queue, app } = await startBenchBuildTier({
  settings: {},
});

// A finished build with a realistic result size (a manifest of ~150 packages).
const manifest = Object.fromEntries(
  Array.from({ length: 150 }, (_, i) => [`package-${i}`, `1.${i}.0-r1`]),
);
const worker = new Worker<BuildJobData, BuildResult>(
  BUILD_QUEUE,
  async (job) => {
    // The build tier answers a finished build only while its files are stored.
    const dir = join(BENCH_PUBLIC_PATH, "store", job.data.requestHash);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "openwrt-sysupgrade.bin"), "");
    return {
      bin_dir: job.data.requestHash,
      manifest,
      images: [{ name: "openwrt-sysupgrade.bin", type: "sysupgrade", sha256: "0".repeat(64) }],
      id: job.data.request.profile,
    };
  },
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
