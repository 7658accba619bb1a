import { type BuildQueue, createBuildQueue } from "@asu/queue";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type RedisServer, startRedisServer } from "./redis-server.ts";

export interface QueueOnOwnRedis {
  readonly redis: Redis;
  readonly queue: BuildQueue;
  /** Another client of the same server (a BullMQ worker needs its own), closed with it. */
  client(): Redis;
}

/**
 * For the tests of one file: a Redis server of their own with a build queue
 * on it, emptied before each test and stopped after the last. Filled in
 * before the first test runs.
 */
export function queueOnOwnRedis(): QueueOnOwnRedis {
  let server: RedisServer | undefined;
  const stand = {
    client: () => {
      if (!server) throw new Error("queueOnOwnRedis: no server before the first test");
      return server.client();
    },
  } as QueueOnOwnRedis & { redis: Redis; queue: BuildQueue };

  beforeAll(async () => {
    server = await startRedisServer();
    stand.redis = server.client();
    stand.queue = createBuildQueue({ connection: stand.redis });
  });

  beforeEach(async () => {
    await stand.redis.flushdb();
  });

  afterAll(async () => {
    await stand.queue?.close();
    stand.redis?.disconnect();
    await server?.stop().catch(() => {});
  });

  return stand;
}
