import { Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type BuildQueue, createBuildQueue } from "./build-queue.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";
import { readJob } from "./read-job.ts";

const PREFIX = `${KEY_PREFIX}:${BUILD_QUEUE}:`;
let redisServer: RedisServer;
let redis: Redis;
let queue: BuildQueue;

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = redisServer.client();
  queue = createBuildQueue({ connection: redis });
});

beforeEach(async () => {
  await redis.flushdb();
});

afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await redisServer?.stop().catch(() => {});
});

describe("readJob", () => {
  it("reads nothing for an unknown id, and nothing for a hash left without a state", async () => {
    expect(await readJob(redis, PREFIX, "none")).toBeUndefined();
    await redis.hset(`${PREFIX}orphan`, "data", "{}");
    expect(await readJob(redis, PREFIX, "orphan")).toBeUndefined();
  });

  it("reads a waiting job's fields as BullMQ stored them, and its place in the wait list", async () => {
    for (const hash of ["a", "b", "c"])
      await queue.enqueue({ ...bareJobData(hash), packages: [hash] });
    const read = await readJob(redis, PREFIX, "b");
    expect(read).toMatchObject({ state: "waiting", locked: false, position: 1 });
    expect(read?.raw).toEqual(await redis.hgetall(`${PREFIX}b`));
    expect((await readJob(redis, PREFIX, "a"))?.position).toBe(0);
    expect((await readJob(redis, PREFIX, "c"))?.position).toBe(2);
  });

  it("reads a running job as active with its worker's lock, and no place", async () => {
    await queue.enqueue({ ...bareJobData("run"), packages: ["luci"] });
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const worker = new Worker(
      BUILD_QUEUE,
      async () => {
        await held;
        return { bin_dir: "x", manifest: {} };
      },
      { connection: redisServer.client(), prefix: KEY_PREFIX },
    );
    try {
      await expect
        .poll(() => readJob(redis, PREFIX, "run"), { timeout: 20_000 })
        .toMatchObject({ state: "active", locked: true, position: undefined });
      // A lock that expired with its worker.
      await redis.del(`${PREFIX}run:lock`);
      expect(await readJob(redis, PREFIX, "run")).toMatchObject({ state: "active", locked: false });
    } finally {
      release();
      await worker.close(true);
    }
  });

  it("reads finished and paused jobs by where BullMQ keeps them", async () => {
    await queue.enqueue({ ...bareJobData("done"), packages: ["luci"] });
    await redis.lrem(`${PREFIX}wait`, 0, "done");
    await redis.zadd(`${PREFIX}completed`, Date.now(), "done");
    expect(await readJob(redis, PREFIX, "done")).toMatchObject({ state: "completed" });
    await redis.zrem(`${PREFIX}completed`, "done");
    await redis.rpush(`${PREFIX}paused`, "done");
    expect(await readJob(redis, PREFIX, "done")).toMatchObject({
      state: "waiting",
      position: undefined,
    });
  });

  it("teaches the script to a Redis that forgot it", async () => {
    await queue.enqueue({ ...bareJobData("x"), packages: ["luci"] });
    await redis.script("FLUSH");
    expect(await readJob(redis, PREFIX, "x")).toMatchObject({ state: "waiting", position: 0 });
    expect(await readJob(redis, PREFIX, "x")).toMatchObject({ state: "waiting", position: 0 });
  });
});
