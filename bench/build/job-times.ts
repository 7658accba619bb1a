import { BUILD_QUEUE, type BuildJobData, type BuildResult, KEY_PREFIX } from "@asu/queue";
import { Job, Queue } from "bullmq";
import { Redis } from "ioredis";

/** BullMQ's own timestamps of a job, as performance.now() of this process. */
export interface JobTimes {
  enqueuedAt: number;
  /** When a worker took it. */
  startedAt: number;
  finishedAt: number;
}

export interface JobTimesReader {
  read(requestHash: string): Promise<JobTimes>;
  close(): Promise<void>;
}

/** BullMQ stamps with Date.now(); the workers run in this process, so one clock serves. */
const fromEpoch = (epochMs: number) => epochMs - performance.timeOrigin;

export function openJobTimes(redisUrl: string): JobTimesReader {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<BuildJobData, BuildResult>(BUILD_QUEUE, {
    connection,
    prefix: KEY_PREFIX,
  });
  return {
    async read(requestHash) {
      const job = await Job.fromId<BuildJobData, BuildResult>(queue, requestHash);
      if (!job?.processedOn || !job.finishedOn) {
        throw new Error(`job ${requestHash} has not finished`);
      }
      return {
        enqueuedAt: fromEpoch(job.timestamp),
        startedAt: fromEpoch(job.processedOn),
        finishedAt: fromEpoch(job.finishedOn),
      };
    },
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}
