import { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { JobSnapshot, JobState } from "./build-answer.ts";
import { BUILD_QUEUE, type BuildJobData, type BuildResult, KEY_PREFIX } from "./build-job.ts";
import { readRefusedBuild } from "./refused-builds.ts";

export interface BuildQueue {
  readonly queue: Queue<BuildJobData, BuildResult>;
  /**
   * Adds the build unless a job with its hash exists: BullMQ checks and adds
   * in one script, so any number of identical requests make one job.
   */
  enqueue(data: BuildJobData): Promise<void>;
  /**
   * The job of a hash (or its failure before the queue), undefined when there
   * is none or its result has expired.
   */
  snapshot(requestHash: string): Promise<JobSnapshot | undefined>;
  /** Drops a finished job whose result expired, so the hash can be built again. */
  dropExpired(requestHash: string): Promise<void>;
  waitingCount(): Promise<number>;
  close(): Promise<void>;
}

export interface BuildQueueOptions {
  connection: Redis;
  now?: () => number;
}

/** When a finished job's result stops being served, unix ms; undefined while unfinished. */
export function expiresAt(
  job: Pick<Job<BuildJobData>, "finishedOn" | "data">,
  state: JobState,
): number | undefined {
  if (job.finishedOn === undefined) return undefined;
  if (state === "completed") return job.finishedOn + job.data.resultTtl * 1000;
  if (state === "failed") return job.finishedOn + job.data.failureTtl * 1000;
  return undefined;
}

export function createBuildQueue(options: BuildQueueOptions): BuildQueue {
  const now = options.now ?? Date.now;
  const queue = new Queue<BuildJobData, BuildResult>(BUILD_QUEUE, {
    connection: options.connection,
    prefix: KEY_PREFIX,
  });
  const redis = options.connection;
  const waitKey = `${KEY_PREFIX}:${BUILD_QUEUE}:wait`;

  /** BullMQ pushes new jobs left and takes the next from the right. */
  async function positionOf(requestHash: string): Promise<number | undefined> {
    const [index, length] = (await redis
      .multi()
      .lpos(waitKey, requestHash)
      .llen(waitKey)
      .exec()) as [[Error | null, number | null], [Error | null, number]];
    if (index[1] === null || index[1] === undefined) return undefined;
    return length[1] - 1 - index[1];
  }

  /*
   * State first, then the job: a job that finishes in between is read with
   * its result and answered as still running, which the next poll corrects.
   * The other order could answer "completed" without the result.
   */
  async function load(requestHash: string) {
    const state = (await queue.getJobState(requestHash)) as JobState;
    if (state === "unknown") return undefined;
    const job = await Job.fromId<BuildJobData, BuildResult>(queue, requestHash);
    if (!job) return undefined;
    return { job, state };
  }

  return {
    queue,

    async enqueue(data) {
      await queue.add("build", data, {
        jobId: data.requestHash,
        attempts: 1,
        removeOnComplete: false,
        removeOnFail: false,
      });
    },

    async snapshot(requestHash) {
      const found = await load(requestHash);
      if (!found) return readRefusedBuild(redis, requestHash);
      const { job, state } = found;
      const expiry = expiresAt(job, state);
      if (expiry !== undefined && expiry <= now()) return undefined;
      const waiting = state === "waiting" || state === "prioritized" || state === "delayed";
      return {
        requestHash,
        state,
        data: job.data,
        progress: job.progress,
        returnvalue: job.returnvalue,
        failedReason: job.failedReason,
        timestamp: job.timestamp,
        position: waiting ? ((await positionOf(requestHash)) ?? 0) : undefined,
        expiresAt: expiry,
      };
    },

    async dropExpired(requestHash) {
      const found = await load(requestHash);
      if (!found) return;
      const expiry = expiresAt(found.job, found.state);
      if (expiry !== undefined && expiry <= now()) await found.job.remove();
    },

    waitingCount: () => queue.getWaitingCount(),
    close: () => queue.close(),
  };
}
