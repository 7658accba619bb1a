import type { Redis } from "ioredis";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";

/**
 * How many builds wait for a worker: BullMQ's wait list and prioritized set
 * (delayed retries are not yet due, so they do not count). One round trip.
 */
export async function waitingBuilds(redis: Redis): Promise<number> {
  const base = `${KEY_PREFIX}:${BUILD_QUEUE}`;
  const replies =
    (await redis.multi().llen(`${base}:wait`).zcard(`${base}:prioritized`).exec()) ?? [];
  let waiting = 0;
  for (const [error, count] of replies) {
    if (error) throw error;
    waiting += Number(count);
  }
  return waiting;
}
