/**
 * Whether the worker reaches its Podman API. A worker that cannot must not
 * turn queued builds into failures: it stops taking jobs (onDown), hands
 * back the ones it holds, and asks the API again with backoff until it
 * answers (onUp).
 */
export interface PodmanWatch {
  readonly available: boolean;
  /**
   * Asks the API now (one question at a time, shared by all callers). When
   * it does not answer, the outage begins. Resolves to whether it answered.
   */
  confirm(): Promise<boolean>;
  stop(): void;
}

export interface PodmanWatchOptions {
  /** One question to the API, e.g. dockerode's `ping()`. */
  ping: () => Promise<unknown>;
  onDown: () => void;
  onUp: () => void;
  /** A ping unanswered for this long counts as down. */
  pingTimeoutMs?: number;
  /** First wait before asking again during an outage; doubles up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** While up, the API is asked this often, so an idle worker notices an outage too. */
  checkIntervalMs?: number;
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function watchPodman(options: PodmanWatchOptions): PodmanWatch {
  // Generous: a loaded machine answers slowly, and a false outage stops all builds.
  const pingTimeoutMs = options.pingTimeoutMs ?? 15_000;
  const minDelayMs = options.minDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  let available = true;
  let stopped = false;
  let asking: Promise<boolean> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;

  const answers = (): Promise<boolean> => {
    asking ??= within(options.ping(), pingTimeoutMs)
      .then(
        () => true,
        () => false,
      )
      .finally(() => {
        asking = undefined;
      });
    return asking;
  };

  const retry = (delayMs: number) => {
    if (stopped) return;
    retryTimer = setTimeout(async () => {
      if (await answers()) {
        if (stopped) return;
        available = true;
        options.onUp();
      } else {
        retry(Math.min(delayMs * 2, maxDelayMs));
      }
    }, delayMs);
    retryTimer.unref();
  };

  const confirm = async (): Promise<boolean> => {
    if (!available) return false;
    const up = await answers();
    if (!up && available && !stopped) {
      available = false;
      options.onDown();
      retry(minDelayMs);
    }
    return up;
  };

  const interval = setInterval(() => {
    if (available) void confirm();
  }, options.checkIntervalMs ?? 10_000);
  interval.unref();

  return {
    get available() {
      return available;
    },
    confirm,
    stop() {
      stopped = true;
      clearInterval(interval);
      clearTimeout(retryTimer);
    },
  };
}
