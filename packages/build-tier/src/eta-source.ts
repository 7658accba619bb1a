import {
  agedBy,
  type BuildQueue,
  type EtaInputs,
  etaInputs,
  type JobSnapshot,
  queuedEta,
  readDurations,
  readWorkers,
  startedEta,
} from "@asu/queue";
import type { Redis } from "ioredis";
import type { BuildAnswer } from "./build-answer.ts";

export interface EtaSourceDeps {
  queue: Pick<BuildQueue, "queue">;
  redis: Redis;
  /** How long one reading of workers, running builds and history serves before a new one starts; default 2 s. */
  maxAgeMs?: number;
  /** How long a request that finds no reading yet waits for the first one before it answers without; default 200 ms. */
  firstReadingWaitMs?: number;
  now?: () => number;
  onError?: (error: Error) => void;
}

export interface EtaSource {
  /** Seconds until the build of a queued or running job is done; undefined for finished ones. */
  of(snapshot: JobSnapshot): Promise<number | undefined>;
  /** Seconds a build posted now would take: behind everything waiting. */
  newBuild(waiting: number): Promise<number | undefined>;
  /** The answer with `eta_seconds` added when it is a 202. */
  annotate(answer: BuildAnswer, snapshot: JobSnapshot): Promise<BuildAnswer>;
}

/** More running builds than this are not read for their ages; the estimate needs slots' worth. */
const MAX_RUNNING_READ = 1000;
/** A reading that is refreshed no more (Redis unreachable) stops being used after this many maxAges. */
const STALE_AFTER_MAX_AGES = 15;
/** A refresh that has not answered by then is given up, so the next one can start. */
const REFRESH_TIMEOUT_MS = 5000;

const within = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms).unref())]);

/**
 * The inputs of wait estimates (pure, in @asu/queue), read from Redis in the
 * background: an answer uses the last reading (its running builds aged by the
 * time since) and, when that is older than `maxAgeMs`, starts one refresh,
 * never more than one at a time, and never waits for it. The first reading
 * starts when the source is made; only a request that comes before it has
 * landed waits for it, at most `firstReadingWaitMs`, then answers without an
 * estimate. When Redis cannot tell, answers go out without one rather than
 * fail.
 */
export function createEtaSource(deps: EtaSourceDeps): EtaSource {
  const maxAgeMs = deps.maxAgeMs ?? 2000;
  const firstWaitMs = deps.firstReadingWaitMs ?? 200;
  const now = deps.now ?? Date.now;
  let reading: { at: number; inputs: EtaInputs } | undefined;
  let refreshing: Promise<unknown> | undefined;

  async function read(): Promise<void> {
    const [workers, history] = await Promise.all([
      readWorkers(deps.redis),
      readDurations(deps.redis),
    ]);
    const slots = workers.reduce((sum, worker) => sum + worker.concurrency, 0);
    const active = await deps.queue.queue.getActive(
      0,
      Math.max(1, Math.min(slots, MAX_RUNNING_READ)) - 1,
    );
    const at = now();
    const ages = active
      .map((job) => job.processedOn)
      .filter((started): started is number => typeof started === "number")
      .map((started) => Math.max(0, (at - started) / 1000));
    reading = { at, inputs: etaInputs(workers, ages, history) };
  }

  const refresh = () => {
    refreshing ??= within(
      read().catch((error: Error) => deps.onError?.(error)),
      REFRESH_TIMEOUT_MS,
    ).finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  // The first reading as soon as Redis answers (the tier's client queues nothing while it connects).
  if (deps.redis.status === "ready") refresh();
  else deps.redis.once("ready", () => void refresh());

  async function inputs(): Promise<EtaInputs | undefined> {
    if (!reading || now() - reading.at >= maxAgeMs) {
      const pending = refresh();
      if (!reading) await within(pending, firstWaitMs);
    }
    if (!reading) return undefined;
    const elapsed = Math.max(0, now() - reading.at);
    if (elapsed >= maxAgeMs * STALE_AFTER_MAX_AGES) return undefined;
    return agedBy(reading.inputs, elapsed / 1000);
  }

  async function of(snapshot: JobSnapshot): Promise<number | undefined> {
    const read = await inputs();
    if (!read) return undefined;
    if (snapshot.state === "active") {
      const progress = (snapshot.progress ?? {}) as { imagebuilder_status?: string };
      const elapsed =
        snapshot.processedOn === undefined
          ? undefined
          : Math.max(0, (now() - snapshot.processedOn) / 1000);
      return startedEta(progress.imagebuilder_status ?? "init", elapsed, read);
    }
    if (snapshot.position !== undefined) return queuedEta(snapshot.position, read);
    return undefined;
  }

  return {
    of,
    async newBuild(waiting) {
      const read = await inputs();
      return read ? queuedEta(waiting, read) : undefined;
    },
    async annotate(answer, snapshot) {
      if (answer.status !== 202) return answer;
      const eta = await of(snapshot);
      if (eta === undefined) return answer;
      return { ...answer, body: { ...answer.body, eta_seconds: eta } };
    },
  };
}
