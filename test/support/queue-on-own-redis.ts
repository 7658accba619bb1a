import { BUILD_QUEUE, type BuildQueue, createBuildQueue, KEY_PREFIX } from "@asu/queue";
import { Worker } from "bullmq";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type RedisServer, startRedisServer } from "./redis-server.ts";

export interface QueueOnOwnRedis {
  readonly redis: Redis;
  readonly queue: BuildQueue;
  /** Another client of the same server (a BullMQ worker needs its own), closed with it. */
  client(): Redis;
  /**
   * A BullMQ worker taking builds off the queue and holding each until
   * `release()`, so tests see jobs active; `close()` releases and stops it.
   */
  holdingWorker(concurrency?: number): HoldingWorker;
}

export interface HoldingWorker {
  release(): void;
  close(): Promise<void>;
}

/**
 * For the tests of one file: a Redis server of their own with a build queue
 * on it, emptied before each test and stopped after the last. Filled in
 * before the first test runs.
 */
export function queueOnOwnRedis(): QueueOnOwnRedis {
  let server: RedisServer | undefined;
  const client = () => {
    if (!server) throw new Error("queueOnOwnRedis: no server before the first test");
    return server.client();
  };
  const stand = {
    client,
    holdingWorker: (concurrency = 1) => {
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
        { connection: client(), prefix: KEY_PREFIX, concurrency },
      );
      return {
        release,
        close: async () => {
          release();
          await worker.close(true);
        },
      };
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
