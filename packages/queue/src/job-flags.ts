import { Job, type Queue } from "bullmq";
import type { BuildJobData, BuildResult } from "./job-data.ts";

/**
 * Marks a waiting or running job as requested by an old LuCI, so every poll
 * of its hash reads the flag with the job, in the same round trip. Through
 * BullMQ's public updateData; a job already flagged (or gone) is left alone.
 */
export async function flagOldLuci(
  queue: Queue<BuildJobData, BuildResult>,
  requestHash: string,
): Promise<void> {
  const job = await Job.fromId<BuildJobData, BuildResult>(queue, requestHash);
  if (!job || job.data.oldLuci) return;
  if (job.finishedOn !== undefined) return;
  await job.updateData({ ...job.data, oldLuci: true });
}
