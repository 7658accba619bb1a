import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { BUILD_QUEUE, KEY_PREFIX } from "./job-data.ts";

/** Names this queue (this Redis) for as long as its data lives. */
export const QUEUE_ID_KEY = `${KEY_PREFIX}:queue-id`;

/**
 * The queue's id, made by whichever worker asks first. Build containers
 * carry it, so a worker can tell the containers of its own queue from those
 * of another ASU (or test) sharing the same Podman, whose jobs it cannot see.
 */
export async function queueInstanceId(redis: Redis): Promise<string> {
  await redis.set(QUEUE_ID_KEY, randomUUID(), "NX");
  const id = await redis.get(QUEUE_ID_KEY);
  if (!id) throw new Error(`${QUEUE_ID_KEY} vanished right after it was set`);
  return id;
}

/**
 * Which of these builds some worker runs right now: the job is in the
 * active list and its lock is held (a worker renews it while it builds; a
 * stalled job's has expired). One round trip for any number of hashes.
 */
export async function runningBuilds(
  redis: Redis,
  requestHashes: readonly string[],
): Promise<Set<string>> {
  const running = new Set<string>();
  if (requestHashes.length === 0) return running;
  const base = `${KEY_PREFIX}:${BUILD_QUEUE}`;
  const batch = redis.multi();
  for (const hash of requestHashes) {
    batch.lpos(`${base}:active`, hash);
    batch.exists(`${base}:${hash}:lock`);
  }
  const replies = (await batch.exec()) ?? [];
  requestHashes.forEach((hash, index) => {
    const [activeError, position] = replies[index * 2] ?? [];
    const [lockError, locked] = replies[index * 2 + 1] ?? [];
    if (activeError || lockError) throw activeError ?? lockError;
    if (position !== null && position !== undefined && locked === 1) running.add(hash);
  });
  return running;
}
