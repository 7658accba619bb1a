import type { BuildQueue, InfraRetry } from "./build-queue.ts";
import { retryOptions } from "./build-queue.ts";
import { type BuildJobData, PREBUILD_PRIORITY, storedJobData } from "./job-data.ts";

export type PrebuildOutcome = "enqueued" | "skipped";

/**
 * Adds a release-day prebuild at BullMQ's lowest priority: a worker takes it
 * only when no user's build waits. It bypasses admission (MAX_PENDING_JOBS
 * counts users' builds only) and every client's share. A hash that already
 * has a job (a router was quicker) is skipped; an expired one is replaced.
 */
export async function enqueuePrebuild(
  queue: BuildQueue,
  data: BuildJobData,
  retry?: InfraRetry,
): Promise<PrebuildOutcome> {
  const found = await queue.find(data.requestHash);
  if (found?.snapshot) return "skipped";
  if (found?.expired) await queue.dropExpired(found);
  await queue.queue.add("build", storedJobData({ ...data, prebuild: true }), {
    jobId: data.requestHash,
    priority: PREBUILD_PRIORITY,
    ...retryOptions(retry),
    removeOnComplete: false,
    removeOnFail: false,
  });
  return "enqueued";
}
