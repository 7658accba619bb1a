import type { Logger } from "@asu/observability";
import { type BuildQueue, expireBuilds } from "@asu/queue";
import type { BuildStore } from "@asu/store";
import type { Redis } from "ioredis";

export interface Janitor {
  stop(): void;
  /** One run now; the hashes it expired. */
  runOnce(): Promise<string[]>;
}

/**
 * Every interval, removes builds whose results expired, with their store
 * folders. Status answers already treat an expired build as gone; this
 * frees Redis and disk behind them.
 */
export function startJanitor(options: {
  redis: Redis;
  queue: BuildQueue;
  store: BuildStore;
  failureTtlSeconds: number;
  intervalMs?: number;
  logger: Logger;
}): Janitor {
  const runOnce = async () => {
    const expired = await expireBuilds({
      redis: options.redis,
      queue: options.queue.queue,
      store: options.store,
      failureTtlSeconds: options.failureTtlSeconds,
    });
    for (const hash of expired) options.logger.info({ request_hash: hash }, "build expired");
    return expired;
  };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runOnce()
      .catch((error) => options.logger.warn({ err: error }, "janitor run failed"))
      .finally(() => {
        running = false;
      });
  }, options.intervalMs ?? 60_000);
  timer.unref();
  return { stop: () => clearInterval(timer), runOnce };
}
