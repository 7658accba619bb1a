import {
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
  /** How long one reading of workers, running builds and history serves; default 2 s. */
  maxAgeMs?: number;
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

/**
 * The inputs of wait estimates (pure, in @asu/queue), read from Redis at most
 * once per `maxAgeMs` however many polls arrive: counting workers scans keys.
 * When Redis cannot tell, answers go out without an estimate rather than fail.
 */
export function createEtaSource(deps: EtaSourceDeps): EtaSource {
  const maxAgeMs = deps.maxAgeMs ?? 2000;
  const now = deps.now ?? Date.now;
  let last: { at: number; value: Promise<EtaInputs | undefined> } | undefined;

  async function read(): Promise<EtaInputs | undefined> {
    try {
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
      return etaInputs(workers, ages, history);
    } catch (error) {
      deps.onError?.(error as Error);
      return undefined;
    }
  }

  const inputs = () => {
    const at = now();
    if (!last || at - last.at >= maxAgeMs) last = { at, value: read() };
    return last.value;
  };

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
