import { BUILD_QUEUE, KEY_PREFIX } from "@asu/queue";
import type { Redis } from "ioredis";

/** `asu:pending:{client}`: request hashes a client queued, scored by when (unix ms). */
export const PENDING_KEY_PREFIX = `${KEY_PREFIX}:pending:`;
/** BullMQ's job hashes: a job waits while it exists and no worker stamped `processedOn`. */
const JOB_KEY_PREFIX = `${KEY_PREFIX}:${BUILD_QUEUE}:`;
/** No build waits a day; entries this old are dropped whatever their job says, and so is an idle key. */
export const PENDING_KEEP_SECONDS = 86_400;

/*
 * One script, so replicas admitting builds of one client at the same moment
 * cannot both slip under the limit. The new hash is counted first; only when
 * the client is over its share are its entries checked against their jobs
 * (those started or gone leave), so the common case is three commands.
 * KEYS[1] the client's set; ARGV: hash, now ms, max, keep seconds, job key prefix.
 * Returns 0 when admitted, else the number of builds still waiting.
 */
const ADMIT = `
local key = KEYS[1]
local hash, now, max, keep, prefix = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - keep * 1000)
redis.call('ZADD', key, now, hash)
redis.call('EXPIRE', key, keep)
local count = redis.call('ZCARD', key)
if count <= max then return 0 end
for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
  if member ~= hash then
    local job = prefix .. member
    if redis.call('EXISTS', job) == 0 or redis.call('HEXISTS', job, 'processedOn') == 1 then
      redis.call('ZREM', key, member)
    end
  end
end
count = redis.call('ZCARD', key)
if count <= max then return 0 end
redis.call('ZREM', key, hash)
return count - 1
`;

export interface FairShare {
  /** MAX_PENDING_PER_CLIENT: the builds one client may have waiting. */
  readonly max: number;
  /**
   * Counts a new build against its client; `admitted: false` when the client
   * already has `max` builds waiting (the build is then not counted).
   */
  admit(client: string, requestHash: string): Promise<{ admitted: boolean; waiting: number }>;
  /** Un-counts a build that was admitted but not queued after all. */
  release(client: string, requestHash: string): Promise<void>;
}

export function createFairShare(redis: Redis, options: { max: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  const keyOf = (client: string) => `${PENDING_KEY_PREFIX}${client}`;
  return {
    max: options.max,
    async admit(client, requestHash) {
      const waiting = Number(
        await redis.eval(
          ADMIT,
          1,
          keyOf(client),
          requestHash,
          now(),
          options.max,
          PENDING_KEEP_SECONDS,
          JOB_KEY_PREFIX,
        ),
      );
      return { admitted: waiting === 0, waiting };
    },
    async release(client, requestHash) {
      await redis.zrem(keyOf(client), requestHash);
    },
  } satisfies FairShare;
}

/** No share at all (MAX_PENDING_PER_CLIENT unset): every build is admitted, nothing is counted. */
export const UNLIMITED_SHARE: FairShare = {
  max: Number.POSITIVE_INFINITY,
  admit: async () => ({ admitted: true, waiting: 0 }),
  release: async () => {},
};
