import type { Redis } from "ioredis";
import type { DurationHistory, TimedStage } from "./build-eta.ts";
import { TIMED_STAGES } from "./build-eta.ts";
import { KEY_PREFIX } from "./job-data.ts";

/** `asu:durations:{stage}`: the most recent successful builds' durations, seconds, newest first. */
export const DURATIONS_KEY_PREFIX = `${KEY_PREFIX}:durations:`;
/** Durations kept per stage: enough for a steady median, recent enough to follow a change. */
export const DURATIONS_KEPT = 50;

const NAMES = [...TIMED_STAGES, "total"] as const;
type Named = TimedStage | "total";

const keyOf = (name: Named) => `${DURATIONS_KEY_PREFIX}${name}`;

/** Adds one successful build's stage times (and `total`); lists are capped, never growing. */
export async function recordDurations(
  redis: Redis,
  durations: readonly { stage: string; seconds: number }[],
): Promise<void> {
  const pipeline = redis.pipeline();
  let any = false;
  for (const { stage, seconds } of durations) {
    if (!(NAMES as readonly string[]).includes(stage) || !Number.isFinite(seconds)) continue;
    const key = keyOf(stage as Named);
    pipeline.lpush(key, seconds.toFixed(3)).ltrim(key, 0, DURATIONS_KEPT - 1);
    any = true;
  }
  if (any) await pipeline.exec();
}

/** The recorded durations of every stage, read in one round trip. */
export async function readDurations(redis: Redis): Promise<DurationHistory> {
  const pipeline = redis.pipeline();
  for (const name of NAMES) pipeline.lrange(keyOf(name), 0, DURATIONS_KEPT - 1);
  const replies = (await pipeline.exec()) ?? [];
  const history: Record<string, number[]> = {};
  NAMES.forEach((name, index) => {
    const [error, values] = replies[index] ?? [null, []];
    if (error) throw error;
    history[name] = (values as string[]).map(Number).filter(Number.isFinite);
  });
  return history;
}
