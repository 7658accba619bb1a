import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { KEY_PREFIX } from "./job-data.ts";

/** `asu:workers:{id}`: one key per live worker, gone within its TTL after the worker is. */
export const WORKER_KEY_PREFIX = `${KEY_PREFIX}:workers:`;
export const HEARTBEAT_TTL_SECONDS = 30;
export const HEARTBEAT_INTERVAL_MS = 10_000;

export function workerKey(workerId: string): string {
  return `${WORKER_KEY_PREFIX}${workerId}`;
}

export const WORKER_STATES = ["idle", "busy", "stopping", "unavailable"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** What a worker says about itself; the build tier counts these to tell workers online. */
export interface WorkerStatus {
  id: string;
  hostname: string;
  pid: number;
  started_at: string;
  concurrency: number;
  /** `unavailable`: it cannot reach its Podman API and takes no jobs. */
  state: WorkerState;
  /** Request hashes being built now. */
  active: string[];
  updated_at: string;
}

export interface Heartbeat {
  buildStarted(requestHash: string): void;
  buildFinished(requestHash: string): void;
  stopping(): void;
  /** Whether the worker reaches its Podman API; told at once. */
  builders(available: boolean): void;
  /**
   * Whether the last write of the heartbeat landed within the TTL: what the
   * build tier sees as this worker being online.
   */
  fresh(): boolean;
  /** Stops beating and removes the key: the worker is gone. */
  stop(): Promise<void>;
}

export interface HeartbeatOptions {
  workerId: string;
  concurrency: number;
  intervalMs?: number;
  onError?: (error: Error) => void;
}

/** Keeps `asu:workers:{id}` fresh: every interval, and at once when a build starts or ends. */
export function startHeartbeat(redis: Redis, options: HeartbeatOptions): Heartbeat {
  const key = workerKey(options.workerId);
  const active = new Set<string>();
  const startedAt = new Date().toISOString();
  let stopping = false;
  let stopped = false;
  let unavailable = false;
  let lastWrittenAt: number | undefined;

  const status = (): WorkerStatus => ({
    id: options.workerId,
    hostname: hostname(),
    pid: process.pid,
    started_at: startedAt,
    concurrency: options.concurrency,
    state: stopping ? "stopping" : unavailable ? "unavailable" : active.size > 0 ? "busy" : "idle",
    active: [...active],
    updated_at: new Date().toISOString(),
  });

  let writing: Promise<unknown> = Promise.resolve();
  const beat = () => {
    if (stopped) return;
    // One write at a time, so an older status never lands after a newer one.
    writing = writing
      .then(async () => {
        const sentAt = Date.now();
        await redis.set(key, JSON.stringify(status()), "EX", HEARTBEAT_TTL_SECONDS);
        lastWrittenAt = sentAt;
      })
      .catch((error: Error) => options.onError?.(error));
  };
  beat();
  const timer = setInterval(beat, options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  timer.unref();

  return {
    buildStarted(requestHash) {
      active.add(requestHash);
      beat();
    },
    buildFinished(requestHash) {
      active.delete(requestHash);
      beat();
    },
    stopping() {
      stopping = true;
      beat();
    },
    builders(available) {
      if (unavailable === !available) return;
      unavailable = !available;
      beat();
    },
    fresh() {
      return (
        !stopped &&
        lastWrittenAt !== undefined &&
        Date.now() - lastWrittenAt < HEARTBEAT_TTL_SECONDS * 1000
      );
    },
    async stop() {
      clearInterval(timer);
      stopped = true;
      await writing;
      await redis.del(key).catch((error: Error) => options.onError?.(error));
    },
  };
}

/** Every worker that beat within the TTL. */
export async function readWorkers(redis: Redis): Promise<WorkerStatus[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${WORKER_KEY_PREFIX}*`, "COUNT", 100);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  if (keys.length === 0) return [];
  const values = await redis.mget(...keys);
  return values
    .filter((value): value is string => value !== null)
    .map((value) => JSON.parse(value) as WorkerStatus);
}
