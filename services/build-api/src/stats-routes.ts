import { ApiError, branchOf } from "@asu/core";
import type { ApiApp } from "@asu/http";
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
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
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

/** FastAPI's answer to a query integer it cannot read, so clients see one shape of 422. */
function integerQuery(c: Context, name: string, fallback: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  if (!/^\s*[+-]?\d+\s*$/.test(raw)) {
    throw new ApiError(422, {
      detail: [
        {
          type: "int_parsing",
          loc: ["query", name],
          msg: "Input should be a valid integer, unable to parse string as an integer",
          input: raw,
        },
      ],
    });
  }
  const value = Number(raw);
  if (value < 1) {
    throw new ApiError(422, {
      detail: [
        {
          type: "greater_than_equal",
          loc: ["query", name],
          msg: "Input should be greater than or equal to 1",
          input: raw,
          ctx: { ge: 1 },
        },
      ],
    });
  }
  return Math.min(value, max);
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

/**
 * The statistics endpoints of the Python server (SERVER_STATS), in its shapes:
 * Chart.js data for builds per day and per version, the top extra packages,
 * a 30-day summary, and the capped error log as text. Answers are reused for
 * a minute: they sum up to 182 daily records.
 */
export function registerStatsRoutes(app: ApiApp, deps: StatsRouteDeps): void {
  const { redis } = deps;
  const ttl = deps.statsCacheMs ?? 60_000;
  const answers = new LRUCache<string, object>({ max: 200, ttl: Math.max(ttl, 1) });
  const cached = async (key: string, read: () => Promise<object>) => {
    if (ttl <= 0) return read();
    const hit = answers.get(key);
    if (hit) return hit;
    const value = await read();
    answers.set(key, value);
    return value;
  };
  const branchOfVersion = (version: string) => branchOf(version, deps.catalog.branches);

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/stats/summary",
      summary: "Queue length, builds of the last 24 hours, statistics of the last 30 days",
      description:
        "`queue_length` and `builds_24h` as the Python server answers them; then totals of build requests, cache hits and misses, successes and failures; requests per client; mean time per build stage (and `total`). Counts are recorded only while SERVER_STATS is on.",
      responses: { 200: json(summarySchema, "The summary") },
    }),
  );
  app.get("/api/v1/stats/summary", async (c) => {
    // The queue is read live, as `/api/v1/stats` is; the sums may be a minute old.
    const [queueLength, summary] = await Promise.all([
      deps.queue.waitingCount(),
      cached("summary", () => readStatsSummary(redis)),
    ]);
    return c.json({ queue_length: queueLength, ...summary });
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/builds-per-day",
      summary: "Build requests, cache hits and failures per day",
      description: "30 daily buckets ending today (UTC), as Chart.js data.",
      responses: { 200: json(chartSchema, "One dataset per event") },
    }),
  );
  app.get("/api/v1/builds-per-day", async (c) =>
    c.json(await cached("per-day", () => readBuildsPerDay(redis))),
  );

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/builds-by-version",
      summary: "Finished builds per week, by branch or by version",
      description:
        "26 weekly buckets ending today (UTC). Without `branch` one curve per branch; with it, one per version starting with it.",
      request: { query: z.object({ branch: branchQuery }) },
      responses: { 200: json(chartSchema, "One dataset per branch or version") },
    }),
  );
  app.get("/api/v1/builds-by-version", async (c) => {
    const branch = c.req.query("branch") || undefined;
    return c.json(
      await cached(`by-version:${branch ?? ""}`, () =>
        readBuildsByVersion(redis, { branch, branchOf: branchOfVersion }),
      ),
    );
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/top-packages",
      summary: "Packages requested most on top of the device defaults",
      description:
        "Over the last 30 days, of one branch or (without `branch`) of all; `n` is capped at 100.",
      request: {
        query: z.object({
          branch: branchQuery,
          n: z.number().int().min(1).optional().openapi({ example: DEFAULT_TOP }),
        }),
      },
      responses: {
        200: json(topPackagesSchema, "Most requested first"),
        422: { description: "`n` is not a positive integer" },
      },
    }),
  );
  app.get("/api/v1/top-packages", async (c) => {
    const branch = c.req.query("branch") || undefined;
    const n = integerQuery(c, "n", DEFAULT_TOP, MAX_TOP);
    return c.json(
      await cached(`top:${n}:${branch ?? ""}`, async () => ({
        packages: await readTopPackages(redis, { branch, n }),
        branch: branch ?? null,
        days: STATS_DAYS,
      })),
    );
  });

  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: "/api/v1/build-errors",
      summary: "Recent build errors, as text",
      description:
        "The capped, anonymised error log (`YYYY-MM-DD HH:MM:SS version:target:profile message`, UTC), newest first; `n` (default 100) is capped at 500.",
      request: {
        query: z.object({
          n: z.number().int().min(1).optional().openapi({ example: DEFAULT_ERRORS }),
        }),
      },
      responses: {
        200: {
          description: "The log, or `No build errors recorded.`",
          content: { "text/plain": { schema: z.string() } },
        },
        422: { description: "`n` is not a positive integer" },
      },
    }),
  );
  app.get("/api/v1/build-errors", async (c) => {
    // `n_entries` is the Python server's older name of the parameter.
    const name = c.req.query("n") === undefined ? "n_entries" : "n";
    const n = integerQuery(c, name, DEFAULT_ERRORS, MAX_ERRORS);
    return c.text(buildErrorsText(await readErrorLog(redis, n)));
  });
}
