import type { Redis } from "ioredis";
import { BUILD_QUEUE, KEY_PREFIX, USER_PRIORITY_LIMIT } from "./job-data.ts";

/** Hashes admitted but not yet added to the queue, scored by when (unix ms). */
export const RESERVATIONS_KEY = `${KEY_PREFIX}:admitting`;

/**
 * A tier that dies between admitting and enqueueing leaves a reservation
 * behind; it stops counting after this long. Enqueueing takes milliseconds.
 */
const RESERVATION_TTL_MS = 30_000;

/**
 * BullMQ scores a prioritized job priority × 2³² + a counter: scores below
 * this are users' builds; release-day prebuilds (PREBUILD_PRIORITY) are not
 * counted against MAX_PENDING_JOBS.
 */
const USER_SCORE_LIMIT = String(USER_PRIORITY_LIMIT * 0x100000000);

/*
 * One script, so no two tiers can both see room for the last place: what is
 * waiting (BullMQ's wait list and users' part of the prioritized set) plus what is being admitted
 * must stay within the limit. A hash that already has a job or a reservation
 * takes no new place — identical requests still make one job.
 */
const ADMIT = `
local job, wait, prioritized, reservations = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local hash, now, ttl, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', reservations, '-inf', now - ttl)
if redis.call('EXISTS', job) == 1 or redis.call('ZSCORE', reservations, hash) then
  return {1, -1}
end
local waiting = redis.call('LLEN', wait) + redis.call('ZCOUNT', prioritized, '-inf', '(' .. ARGV[5])
  + redis.call('ZCARD', reservations)
if waiting >= max then return {0, waiting} end
redis.call('ZADD', reservations, now, hash)
return {1, waiting}
`;

export type Admitted =
  | { admitted: true; release(): Promise<void> }
  | { admitted: false; waiting: number };

export interface Admission {
  /**
   * Takes a place for `requestHash` when fewer than `maxPending` builds wait;
   * call `release` once its job is added (or adding failed).
   */
  admit(requestHash: string, maxPending: number): Promise<Admitted>;
}

export function createAdmission(redis: Redis, now: () => number = Date.now): Admission {
  const prefix = `${KEY_PREFIX}:${BUILD_QUEUE}`;
  return {
    async admit(requestHash, maxPending) {
      const [admitted, waiting] = (await redis.eval(
        ADMIT,
        4,
        `${prefix}:${requestHash}`,
        `${prefix}:wait`,
        `${prefix}:prioritized`,
        RESERVATIONS_KEY,
        requestHash,
        now(),
        RESERVATION_TTL_MS,
        maxPending,
        USER_SCORE_LIMIT,
      )) as [number, number];
      if (admitted !== 1) return { admitted: false, waiting };
      return {
        admitted: true,
        release: async () => {
          await redis.zrem(RESERVATIONS_KEY, requestHash);
        },
      };
    },
  };
}
