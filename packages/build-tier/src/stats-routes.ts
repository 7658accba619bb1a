import { type ApiApp, createRoute, queryPositiveInteger } from "@asu/http";
import { branchOf } from "@asu/openwrt-releases";
import type { BuildQueue } from "@asu/queue";
import {
  BUILD_EVENTS,
  readBuildsByVersion,
  readBuildsPerDay,
  readErrorLog,
  readStatsSummary,
  readTopPackages,
  STATS_DAYS,
} from "@asu/stats";
import type { OpenwrtCatalog } from "@asu/upstream";
import { z } from "@hono/zod-openapi";
import type { Redis } from "ioredis";
import { LRUCache } from "lru-cache";

export interface StatsRouteDeps {
  redis: Redis;
  /** Its waiting builds are the summary's `queue_length`. */
  queue: Pick<BuildQueue, "waitingCount">;
  /** Its branches name the curves of builds-by-version. */
  catalog: Pick<OpenwrtCatalog, "branches">;
  /** How long an answer is reused; the statistics page polls, Redis need not. Default 60 s. */
  statsCacheMs?: number;
}

const chartSchema = z
  .object({
    labels: z.array(z.string()).openapi({ example: ["2025-01-01Z", "2025-01-02Z"] }),
    datasets: z.array(
      z.object({
        label: z.string(),
        data: z.array(z.number()),
        color: z.string().optional(),
      }),
    ),
  })
  .openapi("ChartData");

const countSchema = z.object({ name: z.string(), count: z.number() });

const summarySchema = z
  .object({
    queue_length: z.number().int().openapi({ description: "Builds waiting now" }),
    builds_24h: z.number().int().openapi({ description: "Successful builds in the last 24 hours" }),
    period: z.object({ days: z.number().int(), from: z.string(), to: z.string() }),
    events: z.object(
      Object.fromEntries(BUILD_EVENTS.map((event) => [event, z.number().int()])) as Record<
        (typeof BUILD_EVENTS)[number],
        z.ZodNumber
      >,
    ),
    clients: z.array(countSchema),
    stages: z.record(z.string(), z.object({ count: z.number().int(), mean_seconds: z.number() })),
  })
  .openapi("StatsSummary");

const topPackagesSchema = z
  .object({
    packages: z.array(countSchema),
    branch: z.string().nullable(),
    days: z.number().int().openapi({ example: STATS_DAYS }),
  })
  .openapi("TopPackages");

const branchQuery = z.string().optional().openapi({ example: "24.10" });

/** The Python server's default and cap of `n`. */
const DEFAULT_TOP = 30;
const MAX_TOP = 100;
const DEFAULT_ERRORS = 100;
const MAX_ERRORS = 500;

function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/**
 * `/api/v1/build-errors`: the capped error log as the Python server prints
 * it, newest first. The time range is read from the entries' timestamps;
 * an entry written before they carried one reads `unknown`.
 */
export function buildErrorsText(entries: readonly string[]): string {
  if (entries.length === 0) return "No build errors recorded.";
  const stamp = (entry: string | undefined) =>
    /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) /.exec(entry ?? "")?.[1] ?? "unknown";
  return [
    `Build Errors: ${entries.length} entries`,
    `Time range: ${stamp(entries[entries.length - 1])} to ${stamp(entries[0])}`,
    "",
    "Recent errors:",
    "-".repeat(60),
    ...entries,
  ].join("\n");
}

const summaryRoute = createRoute({
  method: "get",
  path: "/api/v1/stats/summary",
  summary: "Queue length, builds of the last 24 hours, statistics of the last 30 days",
  description:
    "`queue_length` and `builds_24h` as the Python server answers them; then totals of build requests, cache hits and misses, successes and failures; requests per client; mean time per build stage (and `total`). Counts are recorded only while SERVER_STATS is on.",
  responses: { 200: json(summarySchema, "The summary") },
});

const perDayRoute = createRoute({
  method: "get",
  path: "/api/v1/builds-per-day",
  summary: "Build requests, cache hits and failures per day",
  description: "30 daily buckets ending today (UTC), as Chart.js data.",
  responses: { 200: json(chartSchema, "One dataset per event") },
});

const byVersionRoute = createRoute({
  method: "get",
  path: "/api/v1/builds-by-version",
  summary: "Finished builds per week, by branch or by version",
  description:
    "26 weekly buckets ending today (UTC). Without `branch` one curve per branch; with it, one per version starting with it.",
  request: { query: z.object({ branch: branchQuery }) },
  responses: { 200: json(chartSchema, "One dataset per branch or version") },
});

const topPackagesRoute = createRoute({
  method: "get",
  path: "/api/v1/top-packages",
  summary: "Packages requested most on top of the device defaults",
  description:
    "Over the last 30 days, of one branch or (without `branch`) of all; `n` is capped at 100.",
  request: {
    query: z.object({
      branch: branchQuery,
      n: queryPositiveInteger().openapi({ example: DEFAULT_TOP }),
    }),
  },
  responses: {
    200: json(topPackagesSchema, "Most requested first"),
    422: { description: "`n` is not a positive integer" },
  },
});

const buildErrorsRoute = createRoute({
  method: "get",
  path: "/api/v1/build-errors",
  summary: "Recent build errors, as text",
  description:
    "The capped, anonymised error log (`YYYY-MM-DD HH:MM:SS version:target:profile message`, UTC), newest first; `n` (default 100) is capped at 500.",
  request: {
    query: z.object({
      n: queryPositiveInteger().openapi({ example: DEFAULT_ERRORS }),
      n_entries: queryPositiveInteger().describe("The Python server's older name of `n`"),
    }),
  },
  responses: {
    200: {
      description: "The log, or `No build errors recorded.`",
      content: { "text/plain": { schema: z.string() } },
    },
    422: { description: "`n` is not a positive integer" },
  },
});

/** Answers reused for `ttl` ms (none when 0): the statistics page polls, Redis need not. */
function answerCache(ttl: number) {
  const answers = new LRUCache<string, object>({ max: 200, ttl: Math.max(ttl, 1) });
  return async (key: string, read: () => Promise<object>) => {
    if (ttl <= 0) return read();
    const hit = answers.get(key);
    if (hit) return hit;
    const value = await read();
    answers.set(key, value);
    return value;
  };
}

/**
 * The statistics endpoints of the Python server (SERVER_STATS), in its shapes:
 * Chart.js data for builds per day and per version, the top extra packages,
 * a 30-day summary, and the capped error log as text. Answers are reused for
 * a minute: they sum up to 182 daily records.
 */
export function registerStatsRoutes(app: ApiApp, deps: StatsRouteDeps): void {
  const { redis } = deps;
  const cached = answerCache(deps.statsCacheMs ?? 60_000);
  const branchOfVersion = (version: string) => branchOf(version, deps.catalog.branches);

  app.openapi(summaryRoute, async (c) => {
    // The queue is read live, as `/api/v1/stats` is; the sums may be a minute old.
    const [queueLength, summary] = await Promise.all([
      deps.queue.waitingCount(),
      cached("summary", () => readStatsSummary(redis)),
    ]);
    return c.json({ queue_length: queueLength, ...summary } as z.infer<typeof summarySchema>, 200);
  });

  app.openapi(perDayRoute, async (c) =>
    c.json(
      (await cached("per-day", () => readBuildsPerDay(redis))) as z.infer<typeof chartSchema>,
      200,
    ),
  );

  app.openapi(byVersionRoute, async (c) => {
    const branch = c.req.valid("query").branch || undefined;
    const chart = await cached(`by-version:${branch ?? ""}`, () =>
      readBuildsByVersion(redis, { branch, branchOf: branchOfVersion }),
    );
    return c.json(chart as z.infer<typeof chartSchema>, 200);
  });

  app.openapi(topPackagesRoute, async (c) => {
    const query = c.req.valid("query");
    const branch = query.branch || undefined;
    const n = Math.min(query.n ?? DEFAULT_TOP, MAX_TOP);
    const top = await cached(`top:${n}:${branch ?? ""}`, async () => ({
      packages: await readTopPackages(redis, { branch, n }),
      branch: branch ?? null,
      days: STATS_DAYS,
    }));
    return c.json(top as z.infer<typeof topPackagesSchema>, 200);
  });

  app.openapi(buildErrorsRoute, async (c) => {
    const query = c.req.valid("query");
    const n = Math.min(query.n ?? query.n_entries ?? DEFAULT_ERRORS, MAX_ERRORS);
    return c.text(buildErrorsText(await readErrorLog(redis, n)), 200);
  });
}
