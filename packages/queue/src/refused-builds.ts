import type { Redis } from "ioredis";
import { type BuildJobData, type BuildProgress, KEY_PREFIX } from "./job-data.ts";
import type { JobSnapshot } from "./job-snapshot.ts";

/**
 * Builds the build tier failed before the queue (a package no index has):
 * no job and no container, but the hash answers its failure to polls and
 * repeats for BUILD_FAILURE_TTL, like a build that failed in a worker.
 */
export interface RefusedBuild {
  /** The job the worker would have run; status answers read its request. */
  data: BuildJobData;
  progress: BuildProgress;
  /** When it was answered, unix ms (the answer's enqueued_at). */
  timestamp: number;
}

const KEY = `${KEY_PREFIX}:refused`;
/** Hash → expiry, so the count of stored refusals stays bounded. */
const INDEX_KEY = `${KEY_PREFIX}:refused-index`;
/** More distinct refusals than this drop the oldest: a flood of bad requests cannot fill Redis. */
export const MAX_REFUSED_BUILDS = 10_000;

const keyOf = (requestHash: string) => `${KEY}:${requestHash}`;

/** Stores the failure; Redis drops it when its time is up. */
export async function storeRefusedBuild(
  redis: Redis,
  refused: RefusedBuild,
  options: { max?: number } = {},
): Promise<void> {
  const ttlMs = Math.max(1, refused.data.failureTtl * 1000);
  const hash = refused.data.requestHash;
  const max = options.max ?? MAX_REFUSED_BUILDS;
  const results = await redis
    .multi()
    .set(keyOf(hash), JSON.stringify(refused), "PX", ttlMs)
    .zadd(INDEX_KEY, refused.timestamp + ttlMs, hash)
    .zremrangebyscore(INDEX_KEY, 0, Date.now())
    .zcard(INDEX_KEY)
    .exec();
  const count = Number(results?.[3]?.[1] ?? 0);
  if (count <= max) return;
  const oldest = await redis.zpopmin(INDEX_KEY, count - max);
  const hashes = oldest.filter((_, index) => index % 2 === 0);
  if (hashes.length > 0) await redis.del(...hashes.map(keyOf));
}

/** Where the refusal of a hash is stored. */
export const refusedBuildKey = keyOf;

/** The refusal of a hash as a failed job's snapshot, or undefined. */
export async function readRefusedBuild(
  redis: Redis,
  requestHash: string,
): Promise<JobSnapshot | undefined> {
  const [[, text], [, ttl]] = (await redis
    .multi()
    .get(keyOf(requestHash))
    .pttl(keyOf(requestHash))
    .exec()) as [[Error | null, string | null], [Error | null, number]];
  if (typeof text !== "string") return undefined;
  return refusedSnapshot(requestHash, text, ttl);
}

/** A stored refusal (its text and milliseconds to live) as a failed job's snapshot. */
export function refusedSnapshot(requestHash: string, text: string, ttl: number): JobSnapshot {
  const refused = JSON.parse(text) as RefusedBuild;
  return {
    requestHash,
    state: "failed",
    data: refused.data,
    progress: refused.progress,
    failedReason: refused.progress.detail,
    timestamp: refused.timestamp,
    expiresAt: ttl > 0 ? Date.now() + ttl : undefined,
  };
}
