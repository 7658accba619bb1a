import { hostname } from "node:os";
import type { Redis } from "ioredis";
import { KEY_PREFIX } from "./job-data.ts";

/**
 * `asu:workers`: a sorted set of live workers, scored by the Redis time (ms)
 * of each one's last beat; `asu:workers:status`: a hash of each one's status
 * JSON. One key each however many workers and however large the keyspace:
 * read in one round trip, never by scanning keys.
 */
export const WORKERS_KEY = `${KEY_PREFIX}:workers`;
export const WORKER_STATUS_KEY = `${KEY_PREFIX}:workers:status`;
export const HEARTBEAT_TTL_SECONDS = 30;
export const HEARTBEAT_INTERVAL_MS = 10_000;

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

/** Keeps this worker's entry fresh: every interval, and at once when a build starts or ends. */
export function startHeartbeat(redis: Redis, options: HeartbeatOptions): Heartbeat {
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
        await writeWorkerStatus(redis, status());
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
      await removeWorker(redis, options.workerId).catch((error: Error) => options.onError?.(error));
    },
  };
}

/*
 * Both scripts take the time from Redis itself, so workers and build tiers
 * on hosts whose clocks differ agree on who is online. A beat also drops
 * entries older than the TTL (workers killed without a goodbye), and both
 * keys expire with the last live worker. KEYS: the set, the hash; ARGV: the
 * TTL in ms, then (a beat) the worker id and its status JSON.
 */
const NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)";
const BEAT = `${NOW_MS}
local ttl = tonumber(ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
if #stale > 0 then
  redis.call('HDEL', KEYS[2], unpack(stale))
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return now`;
const READ = `${NOW_MS}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))`;

type WithHeartbeats = Redis & {
  asuWorkerBeat(...args: string[]): Promise<number>;
  asuWorkersRead(...args: string[]): Promise<(string | null)[]>;
};

/** The scripts as commands of this client: sent by SHA, taught to a Redis that lacks them once. */
function withHeartbeats(redis: Redis): WithHeartbeats {
  if (!("asuWorkerBeat" in redis)) {
    redis.defineCommand("asuWorkerBeat", { numberOfKeys: 2, lua: BEAT });
    redis.defineCommand("asuWorkersRead", { numberOfKeys: 2, lua: READ });
  }
  return redis as WithHeartbeats;
}

const TTL_MS = String(HEARTBEAT_TTL_SECONDS * 1000);

/** Writes one worker's status as a beat, in one round trip. */
export async function writeWorkerStatus(redis: Redis, status: WorkerStatus): Promise<void> {
  await withHeartbeats(redis).asuWorkerBeat(
    WORKERS_KEY,
    WORKER_STATUS_KEY,
    TTL_MS,
    status.id,
    JSON.stringify(status),
  );
}

/** The worker is gone: its entry leaves at once. */
export async function removeWorker(redis: Redis, workerId: string): Promise<void> {
  await redis.multi().zrem(WORKERS_KEY, workerId).hdel(WORKER_STATUS_KEY, workerId).exec();
}

/** Every worker that beat within the TTL, read in one round trip. */
export async function readWorkers(redis: Redis): Promise<WorkerStatus[]> {
  const values = await withHeartbeats(redis).asuWorkersRead(WORKERS_KEY, WORKER_STATUS_KEY, TTL_MS);
  return values
    .filter((value): value is string => typeof value === "string")
    .map((value) => JSON.parse(value) as WorkerStatus);
}
