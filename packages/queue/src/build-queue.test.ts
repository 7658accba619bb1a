import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type BuildQueue, createBuildQueue } from "./build-queue.ts";
import { bareJobData } from "./fixtures/job-data.ts";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";

let redisServer: RedisServer;
let redis: Redis;
let queue: BuildQueue;
/** The queue's clock: moved forward to let results expire. */
let clock = Date.now();

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = redisServer.client();
  queue = createBuildQueue({ connection: redis, now: () => clock });
});

beforeEach(async () => {
  await redis.flushdb();
  clock = Date.now();
});

afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await redisServer?.stop().catch(() => {});
});

/** Runs every queued job to completion in a worker of this process. */
async function completeAll(): Promise<void> {
  const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const worker = new Worker(BUILD_QUEUE, async () => ({ bin_dir: "x", manifest: {} }), {
    connection,
    prefix: KEY_PREFIX,
  });
  try {
    await expect
      .poll(() => queue.queue.getJobCounts("completed", "waiting", "active"), { timeout: 20_000 })
      .toMatchObject({ waiting: 0, active: 0 });
  } finally {
    await worker.close();
    connection.disconnect();
  }
}

describe("enqueueWithin", () => {
  it("answers the queued job's snapshot with its place", async () => {
    await queue.enqueueWithin({ ...bareJobData("a"), packages: ["luci"] }, 10);
    await queue.enqueueWithin({ ...bareJobData("b"), packages: ["luci"] }, 10);
    const third = await queue.enqueueWithin({ ...bareJobData("c"), packages: ["luci"] }, 10);
    if (!third.enqueued) throw new Error("refused");
    expect(third.snapshot).toMatchObject({ requestHash: "c", state: "prioritized", position: 2 });
    expect(third.snapshot.data.packages).toEqual(["luci"]);
    // What a later read says about the same job.
    expect(await queue.snapshot("c")).toMatchObject({
      state: "prioritized",
      position: 2,
      timestamp: third.snapshot.timestamp,
    });
  });

  it("answers the job that was there already for a hash enqueued twice", async () => {
    const first = await queue.enqueueWithin({ ...bareJobData("same"), packages: ["luci"] }, 10);
    const second = await queue.enqueueWithin({ ...bareJobData("same"), packages: ["luci"] }, 10);
    if (!first.enqueued || !second.enqueued) throw new Error("refused");
    expect(second.snapshot.timestamp).toBe(first.snapshot.timestamp);
    expect(await queue.waitingCount()).toBe(1);
  });
});

describe("find and what a request does with what it found", () => {
  it("finds nothing for an unknown hash", async () => {
    expect(await queue.find("none")).toBeUndefined();
  });

  it("tells an expired result, and drops that job so the hash builds again", async () => {
    await queue.enqueue({ ...bareJobData("done"), packages: ["luci"] });
    await completeAll();
    const fresh = await queue.find("done");
    expect(fresh).toMatchObject({ expired: false, snapshot: { state: "completed" } });

    clock += 61_000;
    const expired = await queue.find("done");
    expect(expired).toEqual({ requestHash: "done", expired: true, snapshot: undefined });
    expect(await queue.snapshot("done")).toBeUndefined();
    await queue.dropExpired(expired!);
    expect(await queue.find("done")).toBeUndefined();
    const again = await queue.enqueueWithin({ ...bareJobData("done"), packages: ["luci"] }, 10);
    expect(again).toMatchObject({ enqueued: true, snapshot: { state: "prioritized" } });
  });

  it("leaves a job that is not expired where it is", async () => {
    await queue.enqueue({ ...bareJobData("waiting"), packages: ["luci"] });
    const found = await queue.find("waiting");
    await queue.dropExpired(found!);
    expect(await queue.snapshot("waiting")).toMatchObject({ state: "waiting" });
    expect(await queue.rebuildInfrastructureFailure(found!)).toBe(false);
  });

  it("requeues a finished job from what it found, and leaves an unfinished one", async () => {
    await queue.enqueue({ ...bareJobData("lost"), packages: ["luci"] });
    await completeAll();
    const found = await queue.find("lost");
    const requeued = await queue.requeue(found!, 10);
    expect(requeued).toMatchObject({
      enqueued: true,
      snapshot: { state: "prioritized", position: 0 },
    });
    expect(await queue.snapshot("lost")).toMatchObject({ state: "prioritized", position: 0 });
    // Another request requeued it meanwhile: it is answered as it is.
    const again = await queue.requeue(found!, 10);
    expect(again).toMatchObject({ enqueued: true, snapshot: { state: "prioritized" } });
    const waiting = await queue.find("lost");
    expect(await queue.requeue(waiting!, 10)).toMatchObject({ enqueued: true });
    expect(await queue.waitingCount()).toBe(1);
  });
});
