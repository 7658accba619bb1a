import { Job, type JobJsonRaw, Queue } from "bullmq";
import type { ChainableCommander, Redis } from "ioredis";
import { createAdmission } from "./admission.ts";
import {
  BUILD_QUEUE,
  type BuildJobData,
  type BuildResult,
  KEY_PREFIX,
  storedJobData,
} from "./job-data.ts";
import { isReplaceableFailure, type JobSnapshot, type JobState } from "./job-snapshot.ts";
import { readRefusedBuild } from "./refused-builds.ts";

export interface BuildQueue {
  readonly queue: Queue<BuildJobData, BuildResult>;
  /**
   * Adds the build unless a job with its hash exists: BullMQ checks and adds
   * in one script, so any number of identical requests make one job.
   */
  enqueue(data: BuildJobData, retry?: InfraRetry): Promise<void>;
  /**
   * Enqueues as `enqueue` does unless `maxPending` builds already wait:
   * checked and taken atomically, so concurrent requests cannot overshoot.
   * Returns the number waiting when refused.
   */
  enqueueWithin(
    data: BuildJobData,
    maxPending: number,
    retry?: InfraRetry,
  ): Promise<{ enqueued: true } | { enqueued: false; waiting: number }>;
  /**
   * Puts a build whose last attempt failed for a fault of ours back in the
   * queue, as a fresh build; true when this call did. Atomic: of many
   * identical requests at once, one moves it and the others find it queued.
   */
  rebuildInfrastructureFailure(requestHash: string): Promise<boolean>;
  /**
   * The job of a hash (or its failure before the queue), undefined when there
   * is none or its result has expired.
   */
  snapshot(requestHash: string): Promise<JobSnapshot | undefined>;
  /**
   * Builds a finished job again from its stored request (its files were lost
   * from the store); a job not finished is left alone. False when refused
   * because `maxPending` builds already wait.
   */
  requeue(requestHash: string, maxPending: number): Promise<boolean>;
  /** Drops a finished job whose result expired, so the hash can be built again. */
  dropExpired(requestHash: string): Promise<void>;
  waitingCount(): Promise<number>;
  close(): Promise<void>;
}

/** INFRA_RETRIES and INFRA_RETRY_DELAY: how a build failing for a fault of ours is retried. */
export interface InfraRetry {
  retries: number;
  delaySeconds: number;
}

/**
 * BullMQ's job options for the retries: attempts and an exponential backoff
 * (delay, 2×delay, 4×delay, …). Failures of the request itself are not
 * retried: the worker fails them as unrecoverable.
 */
export function retryOptions(retry: InfraRetry | undefined) {
  if (!retry || retry.retries <= 0) return { attempts: 1 };
  return {
    attempts: retry.retries + 1,
    backoff: { type: "exponential" as const, delay: retry.delaySeconds * 1000 },
  };
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
  const admission = createAdmission(redis, now);
  const jobKeyPrefix = `${KEY_PREFIX}:${BUILD_QUEUE}:`;

  const key = (name: string) => `${jobKeyPrefix}${name}`;

  /** Where BullMQ keeps a job in each state; a job is in exactly one of them. */
  const stateChecks: [JobState, (batch: ChainableCommander, id: string) => void][] = [
    ["completed", (batch, id) => batch.zscore(key("completed"), id)],
    ["failed", (batch, id) => batch.zscore(key("failed"), id)],
    ["delayed", (batch, id) => batch.zscore(key("delayed"), id)],
    ["prioritized", (batch, id) => batch.zscore(key("prioritized"), id)],
    ["active", (batch, id) => batch.lpos(key("active"), id)],
    ["waiting", (batch, id) => batch.lpos(key("wait"), id)],
    ["waiting", (batch, id) => batch.lpos(key("paused"), id)],
    ["waiting-children", (batch, id) => batch.zscore(key("waiting-children"), id)],
  ];

  /*
   * The job, its state, its worker's lock and its queue position in one
   * MULTI, so they are read at one instant. Read in separate round trips, a
   * job finishing in between was seen active with its lock already released,
   * taken for one that lost its worker and answered "queued" for a moment.
   */
  async function load(requestHash: string) {
    const batch = redis
      .multi()
      .hgetall(key(requestHash))
      .exists(key(`${requestHash}:lock`));
    for (const [, check] of stateChecks) check(batch, requestHash);
    batch.llen(key("wait"));
    const replies = ((await batch.exec()) ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    });
    const [raw, locked] = replies as [JobJsonRaw, number];
    const held = stateChecks.find((_, index) => replies[index + 2] !== null);
    if (!held || Object.keys(raw).length === 0) return undefined;
    let [state] = held;
    // An active job without a lock has lost its worker: the stall check puts
    // it back in the queue shortly, and until then it is not building.
    if (state === "active" && locked === 0) state = "waiting";
    const job = Job.fromJSON<BuildJobData, BuildResult>(queue, raw, requestHash);
    // BullMQ pushes new jobs left and takes the next from the right.
    const index = replies[2 + stateChecks.findIndex(([name]) => name === "waiting")];
    const length = replies[replies.length - 1] as number;
    const position = typeof index === "number" ? length - 1 - index : undefined;
    return { job, state, position };
  }

  async function add(data: BuildJobData, retry?: InfraRetry) {
    await queue.add("build", storedJobData(data), {
      jobId: data.requestHash,
      ...retryOptions(retry),
      removeOnComplete: false,
      removeOnFail: false,
    });
  }

  return {
    queue,

    enqueue: add,

    async enqueueWithin(data, maxPending, retry) {
      const place = await admission.admit(data.requestHash, maxPending);
      if (!place.admitted) return { enqueued: false, waiting: place.waiting };
      try {
        await add(data, retry);
      } finally {
        await place.release();
      }
      return { enqueued: true };
    },

    async rebuildInfrastructureFailure(requestHash) {
      const found = await load(requestHash);
      if (!found || !isReplaceableFailure({ state: found.state, progress: found.job.progress })) {
        return false;
      }
      try {
        await found.job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
      } catch {
        // Another request moved it first (BullMQ's script found it no longer failed).
        return false;
      }
      // The failed attempt's progress would show as the new build's stage.
      await found.job.updateProgress({ imagebuilder_status: "init" }).catch(() => {});
      return true;
    },

    async snapshot(requestHash) {
      const found = await load(requestHash);
      if (!found) return readRefusedBuild(redis, requestHash);
      const { job, state, position } = found;
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
        processedOn: job.processedOn,
        position: waiting ? (position ?? 0) : undefined,
        expiresAt: expiry,
      };
    },

    async requeue(requestHash, maxPending) {
      const found = await load(requestHash);
      // Another request may have requeued it already.
      if (found?.state !== "completed") return true;
      const { data } = found.job;
      await found.job.remove();
      const admitted = await this.enqueueWithin(data, maxPending);
      return admitted.enqueued;
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
