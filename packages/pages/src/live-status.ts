import { type BuildQueue, readWorkers } from "@asu/queue";
import type { Redis } from "ioredis";

export interface LiveStatus {
  queueLength: number;
  workersOnline: number;
  workersBusy: number;
  /** Seconds a build posted now is expected to take, queue included. */
  newBuildEtaSeconds?: number | undefined;
}

/** The build tier's wait estimate for a build posted now, behind `waiting` others. */
export interface NewBuildEta {
  newBuild(waiting: number): Promise<number | undefined>;
}

export interface LiveStatusDeps {
  queue: Pick<BuildQueue, "waitingCount">;
  redis: Redis;
  eta?: NewBuildEta;
}

/**
 * Queue length and workers online, read at most once per `maxAgeMs` however
 * often the home page is asked for.
 * undefined while Redis cannot be reached: the page still renders.
 */
export function createLiveStatus(
  deps: LiveStatusDeps,
  maxAgeMs = 1000,
): () => Promise<LiveStatus | undefined> {
  let last: { at: number; value: Promise<LiveStatus | undefined> } | undefined;

  async function read(): Promise<LiveStatus | undefined> {
    try {
      const [queueLength, workers] = await Promise.all([
        deps.queue.waitingCount(),
        readWorkers(deps.redis),
      ]);
      return {
        queueLength,
        newBuildEtaSeconds: await deps.eta?.newBuild(queueLength),
        workersOnline: workers.length,
        workersBusy: workers.filter((worker) => worker.state === "busy").length,
      };
    } catch {
      return undefined;
    }
  }

  return () => {
    const now = Date.now();
    if (!last || now - last.at >= maxAgeMs) last = { at: now, value: read() };
    return last.value;
  };
}
