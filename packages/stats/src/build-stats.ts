import { KEY_PREFIX } from "@asu/queue";
import type { Redis } from "ioredis";

/*
 * Statistics (SERVER_STATS) in plain Redis structures: one hash or sorted set
 * per kind and UTC day, each expiring a little after the longest window read
 * from it. Days are summed into the Python server's windows when read (30
 * days, or 26 weeks ending with today), so no Redis module is needed and
 * nothing grows without bound.
 */

/** The Python server's summary events (`add_build_event`). */
export const BUILD_EVENTS = [
  "requests",
  "cache-hits",
  "cache-misses",
  "successes",
  "failures",
  // This server's own: failures by kind (see classifyFailure).
  "failures-request",
  "failures-infrastructure",
  // Release-day prebuilds, apart from users' requests (see asu_release_prebuilds_total).
  "prebuilds-enqueued",
  "prebuilds-skipped",
  "prebuilds-succeeded",
  "prebuilds-failed",
] as const;
export type BuildEvent = (typeof BUILD_EVENTS)[number];

/** One thing the statistics count. */
export type StatsEntry =
  /** `requests`, `cache-hits`, … */
  | { kind: "event"; event: BuildEvent }
  /** A build request from this client (see `clientOf`). */
  | { kind: "client"; client: string }
  /** A finished build of this version. */
  | { kind: "build"; version: string }
  /** Packages requested on top of the device's defaults. */
  | { kind: "packages"; branch: string; packages: readonly string[] }
  /** Time one build spent in a stage, or in all of them (`stage: "total"`). */
  | { kind: "stage"; stage: string; seconds: number };

const DAY_MS = 86_400_000;
const STATS_PREFIX = `${KEY_PREFIX}:stats`;
/** Days per window, as the Python server's stats router reads them. */
export const STATS_DAYS = 30;
export const VERSION_WEEKS = 26;

/** Days a daily record outlives its day: the longest window that reads it, plus one. */
const KEEP_DAYS: Record<StatsEntry["kind"], number> = {
  event: STATS_DAYS + 1,
  client: STATS_DAYS + 1,
  build: VERSION_WEEKS * 7 + 1,
  packages: STATS_DAYS + 1,
  stage: STATS_DAYS + 1,
};
/** Free-form text from clients is cut, so no request can store much. */
const MAX_NAME = 100;

/** `2025-01-31`: the UTC day of a time. */
function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function dayKey(kind: StatsEntry["kind"], day: string): string {
  return `${STATS_PREFIX}:${kind}:${day}`;
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/**
 * Successes per minute, one hash per UTC hour, so `builds_24h` sums a true
 * sliding 24 hours (to the minute) rather than calendar days.
 */
function successHourKey(hourStart: number): string {
  return `${STATS_PREFIX}:successes:${new Date(hourStart).toISOString().slice(0, 13)}`;
}

function successMinute(now: number) {
  const hourStart = now - (now % HOUR_MS);
  return {
    key: successHourKey(hourStart),
    minute: String(Math.floor((now - hourStart) / MINUTE_MS)),
    // Read for 24 hours after its last minute, then gone.
    expireAt: Math.floor((hourStart + HOUR_MS + DAY_MS + MINUTE_MS) / 1000),
  };
}

/** Extra packages of one branch; `branch` undefined = every branch. */
function packagesKey(day: string, branch: string | undefined): string {
  const base = dayKey("packages", day);
  return branch === undefined ? base : `${base}:${branch}`;
}

/**
 * The client a build request counts for, as the Python server derives it:
 * the `client` field, else an `auc (0.3.2)` User-Agent as `auc/0.3.2`,
 * else `unknown/0`.
 */
export function clientOf(client: string | null | undefined, userAgent: string | undefined): string {
  if (client) return client.slice(0, MAX_NAME);
  if (userAgent?.startsWith("auc")) {
    return userAgent.replace(" (", "/").replace(")", "").slice(0, MAX_NAME);
  }
  return "unknown/0";
}

/**
 * The packages a build asks for on top of what the device gets anyway (the
 * Python server's `stats:packages`): the resolved list without the default
 * and profile packages and without removals (`-name`).
 */
export function extraPackages(
  packages: readonly string[],
  defaults: readonly string[],
  profilePackages: readonly string[],
): string[] {
  const builtIn = new Set([...defaults, ...profilePackages]);
  return [...new Set(packages)].filter((name) => !name.startsWith("-") && !builtIn.has(name));
}

/**
 * Increments waiting to be written: per key its fields (hash) or members
 * (sorted set) with the sum to add, and when the key expires. Many requests
 * fold into one entry per field, so a busy second costs one small pipeline.
 */
class PendingCounts {
  readonly keys = new Map<
    string,
    { type: "hash" | "zset"; fields: Map<string, number>; floats?: Set<string>; expireAt: number }
  >();

  get empty(): boolean {
    return this.keys.size === 0;
  }

  add(entries: readonly StatsEntry[], now: number): void {
    const day = dayOf(now);
    const dayStart = Date.parse(`${day}T00:00:00Z`);
    const dayExpiry = (kind: StatsEntry["kind"]) =>
      Math.floor((dayStart + (KEEP_DAYS[kind] + 1) * DAY_MS) / 1000);
    const bump = (
      kind: StatsEntry["kind"] | number,
      key: string,
      type: "hash" | "zset",
      field: string,
      by: number,
      float = false,
    ) => {
      let pending = this.keys.get(key);
      if (!pending) {
        const expireAt = typeof kind === "number" ? kind : dayExpiry(kind);
        pending = { type, fields: new Map(), expireAt };
        this.keys.set(key, pending);
      }
      pending.fields.set(field, (pending.fields.get(field) ?? 0) + by);
      if (float) {
        pending.floats ??= new Set();
        pending.floats.add(field);
      }
    };
    for (const entry of entries) {
      switch (entry.kind) {
        case "event":
          bump("event", dayKey("event", day), "hash", entry.event, 1);
          if (entry.event === "successes") {
            const { key, minute, expireAt } = successMinute(now);
            bump(expireAt, key, "hash", minute, 1);
          }
          break;
        case "client":
          bump("client", dayKey("client", day), "hash", entry.client.slice(0, MAX_NAME), 1);
          break;
        case "build":
          bump("build", dayKey("build", day), "hash", entry.version, 1);
          break;
        case "packages":
          for (const key of [packagesKey(day, undefined), packagesKey(day, entry.branch)]) {
            for (const name of entry.packages) {
              bump("packages", key, "zset", name.slice(0, MAX_NAME), 1);
            }
          }
          break;
        case "stage":
          bump("stage", dayKey("stage", day), "hash", `${entry.stage}:count`, 1);
          bump(
            "stage",
            dayKey("stage", day),
            "hash",
            `${entry.stage}:seconds`,
            entry.seconds,
            true,
          );
          break;
      }
    }
  }

  /** One pipeline: every increment, then every key's expiry. */
  async write(redis: Redis): Promise<void> {
    if (this.empty) return;
    const pipeline = redis.pipeline();
    for (const [key, { type, fields, floats, expireAt }] of this.keys) {
      for (const [field, by] of fields) {
        if (type === "zset") pipeline.zincrby(key, by, field);
        else if (floats?.has(field)) pipeline.hincrbyfloat(key, field, by);
        else pipeline.hincrby(key, field, by);
      }
      pipeline.expireat(key, expireAt);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }
}

/** Writes the entries now, in one pipeline (one round trip), every key with its expiry. */
export async function recordStats(
  redis: Redis,
  entries: readonly StatsEntry[],
  now = Date.now(),
): Promise<void> {
  const pending = new PendingCounts();
  pending.add(entries, now);
  await pending.write(redis);
}

export interface StatsRecorder {
  readonly enabled: boolean;
  /**
   * Counts in memory: cheap enough for every request. What is counted
   * reaches Redis within `flushMs`, in one pipeline.
   */
  record(...entries: StatsEntry[]): void;
  /** Writes what is counted so far. Never rejects: failures go to onError. */
  flush(): Promise<void>;
}

export interface StatsRecorderOptions {
  /** SERVER_STATS. */
  enabled: boolean;
  /** How long counts may wait in memory; default 1 s. Lost if the process dies first. */
  flushMs?: number;
  onError?: (error: Error) => void;
  now?: () => number;
}

/**
 * The recorder the tiers use: counts are summed in memory and written at
 * most once per `flushMs`, since a write per request cost more than a cache
 * hit; a timer runs only while something waits.
 */
export function createStatsRecorder(
  redis: Redis | undefined,
  options: StatsRecorderOptions,
): StatsRecorder {
  const enabled = options.enabled && redis !== undefined;
  const now = options.now ?? Date.now;
  const flushMs = options.flushMs ?? 1000;
  let pending = new PendingCounts();
  let timer: NodeJS.Timeout | undefined;
  // One write at a time, in order.
  let writing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (!redis || pending.empty) return writing;
    const batch = pending;
    pending = new PendingCounts();
    writing = writing
      .then(() => batch.write(redis))
      .catch((error: Error) => {
        options.onError?.(error);
      });
    return writing;
  };

  return {
    enabled,
    record(...entries) {
      if (!enabled) return;
      pending.add(entries, now());
      timer ??= setTimeout(flush, flushMs).unref();
    },
    flush,
  };
}

/** Chart.js's data shape, as the Python server's stats router answers. */
export interface ChartData {
  labels: string[];
  datasets: { label: string; data: number[]; color?: string }[];
}

/**
 * Buckets ending with today, aligned as the Python server aligns them: the
 * last one ends at next UTC midnight. Labels read `2025-01-31Z`.
 */
function buckets(count: number, days: number, now: number) {
  const stop = Date.parse(`${dayOf(now)}T00:00:00Z`) + DAY_MS;
  const start = stop - count * days * DAY_MS;
  return Array.from({ length: count }, (_, index) => {
    const from = start + index * days * DAY_MS;
    const dayList = Array.from({ length: days }, (_, offset) => dayOf(from + offset * DAY_MS));
    return { label: `${dayOf(from)}Z`, days: dayList };
  });
}

/** HGETALL of many keys in one round trip. */
async function readHashes(redis: Redis, keys: readonly string[]) {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.hgetall(key);
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value as Record<string, string>;
  });
}

/** The datasets `/api/v1/builds-per-day` draws, with the Python server's labels and colours. */
const PER_DAY_DATASETS: readonly { event: BuildEvent; label: string; color: string }[] = [
  { event: "requests", label: "Requests", color: "green" },
  { event: "cache-hits", label: "Cache-Hits", color: "orange" },
  { event: "failures", label: "Failures", color: "red" },
];

/** `/api/v1/builds-per-day`: requests, cache hits and failures on each of the last 30 days. */
export async function readBuildsPerDay(redis: Redis, now = Date.now()): Promise<ChartData> {
  const days = buckets(STATS_DAYS, 1, now);
  const hashes = await readHashes(
    redis,
    days.map((bucket) => dayKey("event", bucket.days[0] as string)),
  );
  return {
    labels: days.map((bucket) => bucket.label),
    datasets: PER_DAY_DATASETS.map(({ event, label, color }) => ({
      label,
      data: hashes.map((hash) => Number(hash[event] ?? 0)),
      color,
    })),
  };
}

/**
 * `/api/v1/builds-by-version`: finished builds per week over 26 weeks. Without
 * a branch one curve per branch; with one, a curve per version of that branch
 * (versions starting with it, as in the Python server).
 */
export async function readBuildsByVersion(
  redis: Redis,
  options: { branch?: string; branchOf: (version: string) => string; now?: number },
): Promise<ChartData> {
  const weeks = buckets(VERSION_WEEKS, 7, options.now ?? Date.now());
  const allDays = weeks.flatMap((week) => week.days);
  const hashes = await readHashes(
    redis,
    allDays.map((day) => dayKey("build", day)),
  );
  const curves = new Map<string, number[]>();
  hashes.forEach((hash, dayIndex) => {
    const week = Math.floor(dayIndex / 7);
    for (const [version, count] of Object.entries(hash)) {
      if (options.branch !== undefined && !version.startsWith(options.branch)) continue;
      const label = options.branch === undefined ? options.branchOf(version) : version;
      let data = curves.get(label);
      if (!data) {
        data = new Array<number>(weeks.length).fill(0);
        curves.set(label, data);
      }
      data[week] = (data[week] ?? 0) + Number(count);
    }
  });
  return {
    labels: weeks.map((week) => week.label),
    datasets: [...curves.keys()]
      .sort(codePointOrder)
      .map((label) => ({ label, data: curves.get(label) as number[] })),
  };
}

/** Python's `sorted` of strings. */
function codePointOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface PackageCount {
  name: string;
  count: number;
}

/** Entries read per day: far more than any top list shows, few enough to stay cheap. */
const PACKAGES_PER_DAY = 1000;

/**
 * `/api/v1/top-packages`: the packages requested most often on top of the
 * device defaults over the last 30 days, of one branch or of all.
 */
export async function readTopPackages(
  redis: Redis,
  options: { branch?: string; n: number; now?: number },
): Promise<PackageCount[]> {
  const days = buckets(STATS_DAYS, 1, options.now ?? Date.now());
  const pipeline = redis.pipeline();
  for (const bucket of days) {
    const key = packagesKey(bucket.days[0] as string, options.branch);
    pipeline.zrevrange(key, 0, PACKAGES_PER_DAY - 1, "WITHSCORES");
  }
  const totals = new Map<string, number>();
  for (const [error, value] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    const flat = value as string[];
    for (let index = 0; index + 1 < flat.length; index += 2) {
      const name = flat[index] as string;
      totals.set(name, (totals.get(name) ?? 0) + Number(flat[index + 1]));
    }
  }
  return [...totals]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || codePointOrder(a.name, b.name))
    .slice(0, options.n);
}

export interface StatsSummary {
  /** Successful builds in the last 24 hours (the Python server's summary). */
  builds_24h: number;
  /** The window summed: the last 30 UTC days, today included. */
  period: { days: number; from: string; to: string };
  /** Totals of the Python server's summary events. */
  events: Record<BuildEvent, number>;
  /** Build requests per client, most first. */
  clients: PackageCount[];
  /** Builds timed per stage (and `total`), with their mean duration. */
  stages: Record<string, { count: number; mean_seconds: number }>;
}

const SUMMARY_CLIENTS = 20;

/**
 * `/api/v1/stats/summary` without the live queue length: successes of the
 * last 24 hours, and the 30-day totals behind the statistics page.
 */
export async function readStatsSummary(redis: Redis, now = Date.now()): Promise<StatsSummary> {
  const days = buckets(STATS_DAYS, 1, now).map((bucket) => bucket.days[0] as string);
  // The minute that holds `now - 24 h` counts, so the window is 24 h to the minute.
  const since = now - DAY_MS - ((now - DAY_MS) % MINUTE_MS);
  const firstHour = since - (since % HOUR_MS);
  const hours = Array.from({ length: 25 }, (_, index) => firstHour + index * HOUR_MS);
  const hashes = await readHashes(redis, [
    ...days.map((day) => dayKey("event", day)),
    ...days.map((day) => dayKey("client", day)),
    ...days.map((day) => dayKey("stage", day)),
    ...hours.map(successHourKey),
  ]);
  let builds24h = 0;
  hashes.slice(3 * days.length).forEach((hash, index) => {
    const hourStart = hours[index] as number;
    for (const [minute, count] of Object.entries(hash)) {
      const start = hourStart + Number(minute) * MINUTE_MS;
      if (start >= since && start <= now) builds24h += Number(count);
    }
  });
  const sum = (list: Record<string, string>[]) => {
    const totals = new Map<string, number>();
    for (const hash of list) {
      for (const [field, value] of Object.entries(hash)) {
        totals.set(field, (totals.get(field) ?? 0) + Number(value));
      }
    }
    return totals;
  };
  const events = sum(hashes.slice(0, days.length));
  const clients = sum(hashes.slice(days.length, 2 * days.length));
  const stageFields = sum(hashes.slice(2 * days.length, 3 * days.length));

  const stages: StatsSummary["stages"] = {};
  for (const [field, count] of stageFields) {
    if (!field.endsWith(":count")) continue;
    const stage = field.slice(0, -":count".length);
    const seconds = stageFields.get(`${stage}:seconds`) ?? 0;
    stages[stage] = { count, mean_seconds: count > 0 ? round(seconds / count) : 0 };
  }
  return {
    builds_24h: builds24h,
    period: { days: days.length, from: `${days[0]}Z`, to: `${days[days.length - 1]}Z` },
    events: Object.fromEntries(
      BUILD_EVENTS.map((event) => [event, events.get(event) ?? 0]),
    ) as Record<BuildEvent, number>,
    clients: [...clients]
      .map(([name, count]) => ({ name, count }))
      .sort((a, b) => b.count - a.count || codePointOrder(a.name, b.name))
      .slice(0, SUMMARY_CLIENTS),
    stages,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
