import { createApiApp } from "@asu/http";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { type BuildJobData, type BuildQueue, createBuildQueue } from "@asu/queue";
import { appendErrorLog, ERROR_LOG_KEY, errorLogEntry, recordStats } from "@asu/stats";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RedisServer, startRedisServer } from "../../../test/support/redis-server.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { buildErrorsText, registerStatsRoutes } from "./stats-routes.ts";

const silent = silentLogger("test");

let server: RedisServer;
let redis: Redis;
let queue: BuildQueue;
let fresh: ServedApp;
let cached: ServedApp;

function statsApp(statsCacheMs: number) {
  const app = createApiApp({ title: "t", version: "0", logger: silent });
  registerStatsRoutes(app, {
    redis,
    queue,
    catalog: { branches: DEFAULT_BRANCHES },
    statsCacheMs,
  });
  return serveApp(app);
}

beforeAll(async () => {
  server = await startRedisServer();
  redis = server.client();
  queue = createBuildQueue({ connection: redis });
  fresh = await statsApp(0);
  cached = await statsApp(60_000);
});
afterAll(async () => {
  await fresh?.close();
  await cached?.close();
  await queue?.close();
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
});

async function getJson(base: ServedApp, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base.url}${path}`);
  return { status: res.status, body: await res.json() };
}

describe("statistics endpoints", () => {
  it("answers builds-per-day and builds-by-version as Chart.js data", async () => {
    await recordStats(redis, [
      { kind: "event", event: "requests" },
      { kind: "event", event: "requests" },
      { kind: "event", event: "cache-hits" },
      { kind: "build", version: "24.10.0" },
      { kind: "build", version: "23.05.5" },
    ]);
    const perDay = await getJson(fresh, "/api/v1/builds-per-day");
    expect(perDay.status).toBe(200);
    expect(perDay.body.labels).toHaveLength(30);
    expect(perDay.body.labels[29]).toBe(`${new Date().toISOString().slice(0, 10)}Z`);
    expect(perDay.body.datasets.map((set: any) => [set.label, set.data[29], set.color])).toEqual([
      ["Requests", 2, "green"],
      ["Cache-Hits", 1, "orange"],
      ["Failures", 0, "red"],
    ]);

    const byBranch = await getJson(fresh, "/api/v1/builds-by-version");
    expect(byBranch.body.labels).toHaveLength(26);
    expect(byBranch.body.datasets.map((set: any) => [set.label, set.data[25]])).toEqual([
      ["23.05", 1],
      ["24.10", 1],
    ]);
    const byVersion = await getJson(fresh, "/api/v1/builds-by-version?branch=24.10");
    expect(byVersion.body.datasets.map((set: any) => set.label)).toEqual(["24.10.0"]);
  });

  it("answers top-packages per branch and overall, n most first", async () => {
    await recordStats(redis, [
      { kind: "packages", branch: "24.10", packages: ["luci", "tcpdump"] },
      { kind: "packages", branch: "24.10", packages: ["luci"] },
      { kind: "packages", branch: "SNAPSHOT", packages: ["htop"] },
    ]);
    expect((await getJson(fresh, "/api/v1/top-packages?branch=24.10&n=1")).body).toEqual({
      packages: [{ name: "luci", count: 2 }],
      branch: "24.10",
      days: 30,
    });
    expect((await getJson(fresh, "/api/v1/top-packages")).body).toEqual({
      packages: [
        { name: "luci", count: 2 },
        { name: "htop", count: 1 },
        { name: "tcpdump", count: 1 },
      ],
      branch: null,
      days: 30,
    });
  });

  it("caps top-packages at 100 and lists 30 by default", async () => {
    const names = Array.from(
      { length: 120 },
      (_, index) => `pkg-${String(index).padStart(3, "0")}`,
    );
    await recordStats(redis, [{ kind: "packages", branch: "24.10", packages: names }]);
    expect((await getJson(fresh, "/api/v1/top-packages")).body.packages).toHaveLength(30);
    const many = (await getJson(fresh, "/api/v1/top-packages?n=1000")).body;
    expect(many.packages).toHaveLength(100);
    expect(many.packages[0]).toEqual({ name: "pkg-000", count: 1 });
  });

  it("refuses an n that is no positive integer with FastAPI's 422", async () => {
    const words = await getJson(fresh, "/api/v1/top-packages?n=lots");
    expect(words.status).toBe(422);
    expect(words.body.detail[0]).toMatchObject({ type: "int_parsing", loc: ["query", "n"] });
    const zero = await getJson(fresh, "/api/v1/top-packages?n=0");
    expect(zero.status).toBe(422);
    expect(zero.body.detail[0].msg).toBe("Input should be greater than or equal to 1");
    expect((await fetch(`${fresh.url}/api/v1/build-errors?n=-3`)).status).toBe(422);
  });

  it("answers the summary: queue length, builds of 24 hours, then the 30-day totals", async () => {
    await queue.queue.add("build", {} as BuildJobData, { jobId: "a".repeat(64) });
    await queue.queue.add("build", {} as BuildJobData, { jobId: "b".repeat(64) });
    await recordStats(redis, [
      { kind: "event", event: "requests" },
      { kind: "event", event: "cache-misses" },
      { kind: "event", event: "successes" },
      { kind: "client", client: "auc/0.3.2" },
      { kind: "stage", stage: "building_image", seconds: 3 },
    ]);
    // A success two days ago counts for the month, not for the last 24 hours.
    await recordStats(redis, [{ kind: "event", event: "successes" }], Date.now() - 2 * 86_400_000);
    const { status, body } = await getJson(fresh, "/api/v1/stats/summary");
    expect(status).toBe(200);
    expect(Object.keys(body).slice(0, 2)).toEqual(["queue_length", "builds_24h"]);
    expect(body.queue_length).toBe(2);
    expect(body.builds_24h).toBe(1);
    expect(body.period.days).toBe(30);
    expect(body.events).toEqual({
      requests: 1,
      "cache-hits": 0,
      "cache-misses": 1,
      successes: 2,
      failures: 0,
      "failures-request": 0,
      "failures-infrastructure": 0,
      "prebuilds-enqueued": 0,
      "prebuilds-skipped": 0,
      "prebuilds-succeeded": 0,
      "prebuilds-failed": 0,
    });
    expect(body.clients).toEqual([{ name: "auc/0.3.2", count: 1 }]);
    expect(body.stages).toEqual({ building_image: { count: 1, mean_seconds: 3 } });
  });

  it("reuses answers for the cache time, so polling pages do not load Redis", async () => {
    await recordStats(redis, [{ kind: "event", event: "requests" }]);
    const first = await getJson(cached, "/api/v1/stats/summary");
    await recordStats(redis, [{ kind: "event", event: "requests" }]);
    await queue.queue.add("build", {} as BuildJobData, { jobId: "c".repeat(64) });
    const again = (await getJson(cached, "/api/v1/stats/summary")).body;
    expect(again.events).toEqual(first.body.events);
    // The queue is never a minute old.
    expect([first.body.queue_length, again.queue_length]).toEqual([0, 1]);
    expect((await getJson(fresh, "/api/v1/stats/summary")).body.events.requests).toBe(2);
  });

  it("prints the error log as text, newest first, n at most", async () => {
    const empty = await fetch(`${fresh.url}/api/v1/build-errors`);
    expect(empty.status).toBe(200);
    expect(empty.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await empty.text()).toBe("No build errors recorded.");

    const first = Date.parse("2025-01-01T09:00:00Z");
    const archer = { version: "24.10.0", target: "ath79/generic", profile: "tplink_archer-c7-v5" };
    const x86 = { version: "24.10.0", target: "x86/64", profile: "generic" };
    await appendErrorLog(redis, errorLogEntry(archer, "Error: first", first));
    await appendErrorLog(redis, errorLogEntry(x86, "Error: second", first + 3_661_000));
    const text = await (await fetch(`${fresh.url}/api/v1/build-errors`)).text();
    expect(text.split("\n")).toEqual([
      "Build Errors: 2 entries",
      "Time range: 2025-01-01 09:00:00 to 2025-01-01 10:01:01",
      "",
      "Recent errors:",
      "-".repeat(60),
      "2025-01-01 10:01:01 24.10.0:x86/64:generic Error: second",
      "2025-01-01 09:00:00 24.10.0:ath79/generic:tplink_archer-c7-v5 Error: first",
    ]);
    const newest = await (await fetch(`${fresh.url}/api/v1/build-errors?n=1`)).text();
    expect(newest.split("\n").slice(0, 2)).toEqual([
      "Build Errors: 1 entries",
      "Time range: 2025-01-01 10:01:01 to 2025-01-01 10:01:01",
    ]);
    const older = await (await fetch(`${fresh.url}/api/v1/build-errors?n_entries=5`)).text();
    expect(older).toContain("Build Errors: 2 entries");
  });

  it("prints at most 500 entries, 100 unless asked", async () => {
    const pipeline = redis.pipeline();
    for (let index = 0; index < 600; index++) {
      pipeline.lpush(ERROR_LOG_KEY, `2025-01-01 00:00:00 24.10.0:x86/64:generic Error: ${index}`);
    }
    await pipeline.exec();
    const count = async (query: string) =>
      (await (await fetch(`${fresh.url}/api/v1/build-errors${query}`)).text()).split("\n")[0];
    expect(await count("")).toBe("Build Errors: 100 entries");
    expect(await count("?n=1000")).toBe("Build Errors: 500 entries");
  });

  it("documents every endpoint in the OpenAPI document", async () => {
    const { body } = await getJson(fresh, "/openapi.json");
    expect(Object.keys(body.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/stats/summary",
        "/api/v1/builds-per-day",
        "/api/v1/builds-by-version",
        "/api/v1/top-packages",
        "/api/v1/build-errors",
      ]),
    );
  });
});

describe("buildErrorsText", () => {
  it("takes the time range from timestamped entries, oldest to newest", () => {
    expect(
      buildErrorsText([
        "2025-01-02 10:00:00 24.10.0:x86/64:generic Error: b",
        "2025-01-01 09:00:00 24.10.0:x86/64:generic Error: a",
      ]).split("\n")[1],
    ).toBe("Time range: 2025-01-01 09:00:00 to 2025-01-02 10:00:00");
  });
});
