import type { BuildStore } from "@asu/store";
import { Job, type Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { BuildJobData, BuildResult } from "./job-data.ts";
import { EXPIRY_KEY } from "./job-data.ts";

/** Called by the worker when a build finishes: when its result (or failure) expires. */
export async function recordExpiry(
  redis: Redis,
  requestHash: string,
  finishedAt: number,
  ttlSeconds: number,
): Promise<void> {
  await redis.zadd(EXPIRY_KEY, finishedAt + ttlSeconds * 1000, requestHash);
}

export interface ExpireOptions {
  redis: Redis;
  queue: Queue<BuildJobData, BuildResult>;
  store: BuildStore;
  now?: number;
  /** Failures no worker reported (a stalled job) are cleaned by age. */
  failureTtlSeconds: number;
  batch?: number;
}

/**
 * Removes finished builds whose time is up, job and store folder together,
 * and returns their hashes. Safe to run from several build tiers at once.
 */
export async function expireBuilds(options: ExpireOptions): Promise<string[]> {
  const { redis, queue, store } = options;
  const now = options.now ?? Date.now();
  const batch = options.batch ?? 500;
  const expired: string[] = [];

  const due = await redis.zrangebyscore(EXPIRY_KEY, 0, now, "LIMIT", 0, batch);
  for (const hash of due) {
    const job = await Job.fromId(queue, hash);
    if (job) {
      const state = await job.getState();
      // A job re-enqueued under the same hash is a new build: leave it.
      if (state === "completed" || state === "failed") await job.remove();
      else {
        await redis.zrem(EXPIRY_KEY, hash);
        continue;
      }
    }
    await store.remove(hash);
    await redis.zrem(EXPIRY_KEY, hash);
    expired.push(hash);
  }

  const stale = await queue.clean(options.failureTtlSeconds * 1000, batch, "failed");
  for (const hash of stale) {
    await store.remove(hash);
    await redis.zrem(EXPIRY_KEY, hash);
    expired.push(hash);
  }
  return expired;
}
