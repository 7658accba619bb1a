import type { Redis } from "ioredis";
import { buildQueueAdapter } from "./build-queue.ts";

export interface QueueDepth {
  /** Builds no worker has taken yet: BullMQ's wait list and prioritized set (not delayed retries, not yet due). */
  waiting: number;
  /** Builds taken by a worker: the active list. */
  active: number;
}

/** How many builds wait and how many are being built, read at one instant in one round trip. */
export async function queueDepth(redis: Redis): Promise<QueueDepth> {
  const { waiting, active } = await buildQueueAdapter(redis).depth();
  return { waiting, active };
}

/**
 * Whether a running build's slot likely takes a waiting build next: at
 * least one waits for every build running (that one included). With fewer,
 * the slots that finish first take them.
 */
export function slotTakesNext({ waiting, active }: QueueDepth): boolean {
  return waiting > 0 && waiting >= active;
}
