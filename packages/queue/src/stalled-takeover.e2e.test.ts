import { type ChildProcess, spawn } from "node:child_process";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type BuildQueue, createBuildQueue } from "./build-queue.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX, WORKER_LOCK_SETTINGS } from "./job-data.ts";
import { jobProgress } from "./job-snapshot.ts";

let redisServer: RedisServer;
let redis: Redis;
let queue: BuildQueue;
let holder: ChildProcess | undefined;
let survivor: Worker | undefined;
let survivorConnection: Redis | undefined;

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = redisServer.client();
  queue = createBuildQueue({ connection: redis });
});

afterAll(async () => {
  holder?.kill("SIGKILL");
  await survivor?.close();
  survivorConnection?.disconnect();
  await queue?.close();
  redis?.disconnect();
  await redisServer?.stop().catch(() => {});
});

const HASH = "5".repeat(64);

const data = bareJobData(HASH);

function startHolder(): Promise<ChildProcess> {
  const script = new URL("./fixtures/hold-job.ts", import.meta.url).pathname;
  // node itself, not a wrapper: SIGKILL must hit the worker.
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, REDIS_URL: redisServer.url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += String(chunk);
      if (output.includes(`holding ${HASH}`)) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`holder exited with ${code}: ${output}`)));
  });
}

describe("a worker killed mid-build", () => {
  it("has its job taken over by another worker within about 30 s", async () => {
    await queue.enqueue(data);
    holder = await startHolder();
    const held = (await queue.snapshot(HASH))!;
    expect(held.state).toBe("active");
    expect(jobProgress(held).imagebuilder_status).toBe("building_image");

    survivorConnection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    let takenAt: number | undefined;
    survivor = new Worker(
      BUILD_QUEUE,
      async () => {
        takenAt = Date.now();
        return { bin_dir: HASH, manifest: {} };
      },
      { connection: survivorConnection, prefix: KEY_PREFIX, ...WORKER_LOCK_SETTINGS },
    );
    await survivor.waitUntilReady();

    const killedAt = Date.now();
    holder.kill("SIGKILL");
    // A poll never shows the dead build running once its lock is gone.
    await expect
      .poll(async () => (await queue.snapshot(HASH))!.state, {
        timeout: WORKER_LOCK_SETTINGS.lockDuration + 5_000,
        interval: 250,
      })
      .not.toBe("active");
    await expect.poll(() => takenAt, { timeout: 45_000, interval: 250 }).toBeDefined();
    const seconds = ((takenAt ?? 0) - killedAt) / 1000;
    console.info(`stalled job taken over ${seconds.toFixed(1)} s after SIGKILL`);
    await expect.poll(async () => (await queue.snapshot(HASH))?.state).toBe("completed");
  }, 90_000);
});
