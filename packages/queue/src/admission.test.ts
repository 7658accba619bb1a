import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { RESERVATIONS_KEY } from "./admission.ts";
import { type BuildQueue, createBuildQueue } from "./build-queue.ts";
import { bareJobData } from "./fixtures/job-data.ts";

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

describe("enqueueWithin", () => {
  it("admits at most the limit of 300 concurrent distinct builds", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, i) => queue.enqueueWithin(bareJobData(`h${i}`), 50)),
    );
    expect(outcomes.filter((outcome) => outcome.enqueued)).toHaveLength(50);
    expect(await queue.waitingCount()).toBe(50);
    for (const outcome of outcomes) {
      if (!outcome.enqueued) expect(outcome.waiting).toBeGreaterThanOrEqual(50);
    }
    expect(await redis.zcard(RESERVATIONS_KEY)).toBe(0);
  });

  it("makes one job of concurrent identical requests, even at the limit's edge", async () => {
    await Promise.all(
      Array.from({ length: 49 }, (_, i) => queue.enqueueWithin(bareJobData(`h${i}`), 50)),
    );
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, () => queue.enqueueWithin(bareJobData("same"), 50)),
    );
    expect(outcomes.every((outcome) => outcome.enqueued)).toBe(true);
    expect(await queue.waitingCount()).toBe(50);
    expect((await queue.enqueueWithin(bareJobData("other"), 50)).enqueued).toBe(false);
  });

  it("forgets a reservation its tier left behind", async () => {
    await redis.zadd(RESERVATIONS_KEY, Date.now() - 60_000, "abandoned");
    expect((await queue.enqueueWithin(bareJobData("fresh"), 1)).enqueued).toBe(true);
  });
});
