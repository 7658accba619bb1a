import { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import {
  type AdmissionRequest,
  createQueueAdapter,
  type QueueAdapter,
  type QueueDepthCounts,
  type ReadJob,
} from "./bullmq-adapter.ts";
import {
  BUILD_QUEUE,
  type BuildJobData,
  type BuildResult,
  KEY_PREFIX,
  PREBUILD_PRIORITY,
  storedJobData,
  USER_PRIORITY_LIMIT,
} from "./job-data.ts";
import { isReplaceableFailure, type JobSnapshot, type JobState } from "./job-snapshot.ts";
import { refusedBuildKey, refusedSnapshot } from "./refused-builds.ts";

/** `asu:pending:{client}`: a client's waiting builds, scored by their turn (see bullmq-adapter.ts). */
export const PENDING_KEY_PREFIX = `${KEY_PREFIX}:pending:`;
/** The turn workers are serving, so new clients join it (see bullmq-adapter.ts). */
export const TURN_KEY = `${KEY_PREFIX}:turn`;
/** An idle client's set is dropped after a day. */
export const PENDING_KEEP_SECONDS = 86_400;

/**
 * A job as one read found it. A request reads its job once and then acts on
 * what it found (drops it, rebuilds it) without reading it again.
 */
export interface FoundJob {
  requestHash: string;
  /** What answers tell about it; undefined once its result has expired. */
  snapshot: JobSnapshot | undefined;
  /** A finished job whose result expired: it is dropped before its hash is built again. */
  expired: boolean;
}

/**
 * The queued job's snapshot, or why it was refused: the queue was full
 * (`waiting`: users' builds waiting) or its client had its share waiting
 * (`waiting`: the client's).
 */
export type Enqueued =
  /** promoted: the hash waited as a prebuild and now waits at this client's turn. */
  | { enqueued: true; snapshot: JobSnapshot; promoted?: true }
  | { enqueued: false; refused: "queue-full" | "client-full"; waiting: number };

/** The limits a new build is admitted within; a number is MAX_PENDING_JOBS alone. */
export type Admission = AdmissionRequest | number;

export interface BuildQueue {
  readonly queue: Queue<BuildJobData, BuildResult>;
  /**
   * Adds the build unless a job with its hash exists: BullMQ checks and adds
   * in one script, so any number of identical requests make one job. It goes
   * to BullMQ's wait list, before every build waiting its turn, and counts
   * against no limit: users' builds and prebuilds use `enqueueWithin`.
   */
  enqueue(data: BuildJobData, retry?: InfraRetry): Promise<void>;
  /**
   * Enqueues at its client's turn unless the queue or the client is full:
   * decided, recorded and added in one script (one round trip, the job read
   * back in it), so concurrent requests cannot overshoot. A job with its
   * hash is answered as it is, except a prebuild still waiting: a user's
   * request moves it to that client's turn when admitted (never refused).
   */
  enqueueWithin(data: BuildJobData, admission: Admission, retry?: InfraRetry): Promise<Enqueued>;
  /**
   * The job of a hash (or its failure before the queue) as read now;
   * undefined when there is none.
   */
  find(requestHash: string): Promise<FoundJob | undefined>;
  /** The snapshot of `find`: undefined when there is no job or its result has expired. */
  snapshot(requestHash: string): Promise<JobSnapshot | undefined>;
  /**
   * Puts a build whose last attempt failed for a fault of ours back in the
   * queue, as a fresh build; true when this call did. Atomic: of many
   * identical requests at once, one moves it and the others find it queued.
   */
  rebuildInfrastructureFailure(found: FoundJob): Promise<boolean>;
  /**
   * Builds a finished job again from its stored request (its files were lost
   * from the store), within `admission` as `enqueueWithin`; a job no longer
   * finished (another request requeued it) is answered as it is now, and
   * undefined when it is gone.
   */
  requeue(found: FoundJob, admission: Admission): Promise<Enqueued | undefined>;
  /** Drops a finished job whose result expired, so the hash can be built again. */
  dropExpired(found: FoundJob): Promise<void>;
  /** Builds waiting (prebuilds too), as /api/v1/stats says. */
  waitingCount(): Promise<number>;
  /** Waiting, users' waiting and active builds at one instant. */
  depth(): Promise<QueueDepthCounts>;
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

/** The adapter of the build queue: its lanes, limits and client sets. */
export function buildQueueAdapter(redis: Redis, now: () => number = Date.now): QueueAdapter {
  return createQueueAdapter(redis, {
    prefix: KEY_PREFIX,
    queue: BUILD_QUEUE,
    userPriorityLimit: USER_PRIORITY_LIMIT,
    prebuildPriority: PREBUILD_PRIORITY,
    pendingKey: (client) => PENDING_KEY_PREFIX + client,
    turnKey: TURN_KEY,
    pendingKeepSeconds: PENDING_KEEP_SECONDS,
    now,
  });
}

/** What every method of a build queue works with. */
interface Queued {
  readonly queue: Queue<BuildJobData, BuildResult>;
  readonly adapter: QueueAdapter;
  readonly now: () => number;
  /** The BullMQ job behind what `find` found; none for a refusal. */
  readonly foundJobs: WeakMap<FoundJob, { job: Job<BuildJobData, BuildResult>; state: JobState }>;
}

export function createBuildQueue(options: BuildQueueOptions): BuildQueue {
  const now = options.now ?? Date.now;
  const queue = new Queue<BuildJobData, BuildResult>(BUILD_QUEUE, {
    connection: options.connection,
    prefix: KEY_PREFIX,
  });
  const q: Queued = {
    queue,
    adapter: buildQueueAdapter(options.connection, now),
    now,
    foundJobs: new WeakMap(),
  };
  return {
    queue,
    enqueue: (data, retry) => add(q, data, retry),
    enqueueWithin: (data, admission, retry) => enqueueWithin(q, data, admission, retry),
    find: (requestHash) => find(q, requestHash),
    snapshot: async (requestHash) => (await find(q, requestHash))?.snapshot,
    rebuildInfrastructureFailure: (found) => rebuildInfrastructureFailure(q, found),
    requeue: (found, admission) => requeue(q, found, admission),
    dropExpired: (found) => dropExpired(q, found),
    waitingCount: async () => (await q.adapter.depth()).waiting,
    depth: () => q.adapter.depth(),
    close: () => queue.close(),
  };
}

/*
 * The job, its state, its worker's lock and its queue position read at one
 * instant (one script). Read in separate round trips, a job finishing in
 * between was seen active with its lock already released, taken for one
 * that lost its worker and answered "queued" for a moment.
 */
function load(q: Queued, read: ReadJob | undefined, requestHash: string) {
  if (!read) return undefined;
  let { state } = read;
  // An active job without a lock has lost its worker: the stall check puts
  // it back in the queue shortly, and until then it is not building.
  if (state === "active" && !read.locked) state = "waiting";
  const job = Job.fromJSON<BuildJobData, BuildResult>(q.queue, read.raw, requestHash);
  return { job, state, position: read.position };
}

async function add(q: Queued, data: BuildJobData, retry?: InfraRetry): Promise<void> {
  await q.queue.add("build", storedJobData(data), {
    jobId: data.requestHash,
    ...retryOptions(retry),
    removeOnComplete: false,
    removeOnFail: false,
  });
}

async function find(q: Queued, requestHash: string): Promise<FoundJob | undefined> {
  // The job, or the failure stored when there is none, in one round trip.
  const read = await q.adapter.find(requestHash, refusedBuildKey(requestHash));
  const found = load(q, read.job, requestHash);
  if (!found) {
    const stored = read.job ? undefined : read.otherwise;
    if (!stored) return undefined;
    const snapshot = refusedSnapshot(requestHash, stored.value, stored.ttlMs);
    return { requestHash, snapshot, expired: false };
  }
  return foundOf(q, requestHash, found);
}

function foundOf(
  q: Queued,
  requestHash: string,
  found: NonNullable<ReturnType<typeof load>>,
): FoundJob {
  const { job, state, position } = found;
  const expiry = expiresAt(job, state);
  const expired = expiry !== undefined && expiry <= q.now();
  const waiting = state === "waiting" || state === "prioritized" || state === "delayed";
  const result: FoundJob = {
    requestHash,
    expired,
    snapshot: expired
      ? undefined
      : {
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
          ...(state === "prioritized" && job.priority >= USER_PRIORITY_LIMIT
            ? { prebuildLane: true as const }
            : {}),
        },
  };
  q.foundJobs.set(result, { job, state });
  return result;
}

async function enqueueWithin(
  q: Queued,
  data: BuildJobData,
  admission: Admission,
  retry?: InfraRetry,
): Promise<Enqueued> {
  const limits =
    typeof admission === "number"
      ? { client: undefined, maxPending: admission, maxPerClient: 0 }
      : admission;
  const outcome = await q.adapter.admitAndEnqueue(
    {
      id: data.requestHash,
      name: "build",
      data: storedJobData(data),
      opts: { ...retryOptions(retry), removeOnComplete: false, removeOnFail: false },
    },
    limits,
  );
  if ("waiting" in outcome) {
    return { enqueued: false, refused: outcome.outcome, waiting: outcome.waiting };
  }
  // Read back in the same script: its place, or what the existing job is.
  const found = load(q, outcome.job, data.requestHash);
  const snapshot = found && foundOf(q, data.requestHash, found).snapshot;
  if (!snapshot) throw new Error(`job ${data.requestHash} vanished right after enqueueing`);
  return outcome.outcome === "promoted"
    ? { enqueued: true, snapshot, promoted: true }
    : { enqueued: true, snapshot };
}

async function rebuildInfrastructureFailure(q: Queued, found: FoundJob): Promise<boolean> {
  const held = q.foundJobs.get(found);
  if (!held || !isReplaceableFailure({ state: held.state, progress: held.job.progress })) {
    return false;
  }
  try {
    await held.job.retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
  } catch {
    // Another request moved it first (BullMQ's script found it no longer failed).
    return false;
  }
  // The failed attempt's progress would show as the new build's stage.
  await held.job.updateProgress({ imagebuilder_status: "init" }).catch(() => {});
  return true;
}

async function requeue(
  q: Queued,
  found: FoundJob,
  admission: Admission,
): Promise<Enqueued | undefined> {
  const held = q.foundJobs.get(found);
  // Another request may have requeued it since it was read.
  if (held?.state !== "completed" || !(await held.job.isCompleted())) {
    const now = (await find(q, found.requestHash))?.snapshot;
    return now && { enqueued: true, snapshot: now };
  }
  const { data } = held.job;
  await held.job.remove();
  return enqueueWithin(q, data, admission);
}

async function dropExpired(q: Queued, found: FoundJob): Promise<void> {
  const held = q.foundJobs.get(found);
  if (!held || !found.expired) return;
  // A job that took its place since (another request's) is not this one
  // to drop: BullMQ refuses while a worker holds it, and the enqueue
  // that follows finds it.
  await held.job.remove().catch(() => {});
}
