import { Writable } from "node:stream";
import { createApiApp } from "@asu/http";
import { createLogger } from "@asu/observability";
import { DEFAULT_BRANCHES } from "@asu/openwrt-releases";
import { type BuildQueue, createBuildQueue } from "@asu/queue";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerStatsRoutes } from "../packages/build-tier/src/stats-routes.ts";
import { type RunningWorker, startWorker } from "../packages/build-worker/src/worker.ts";
import { freeLoopbackPort } from "../services/server/src/private-redis.ts";
import {
  type AsuStack,
  ATH79_24_10_DOUBLE,
  startAsuStack,
  waitForBuild,
} from "./support/asu-stack.ts";
import { type ServedApp, serveApp } from "./support/serve-app.ts";
import { silentLogger } from "./support/silent-logger.ts";

/*
 * What operators watch, over a real build: /metrics of the build tier and
 * of a worker moving, the statistics (SERVER_STATS) filling, and one request
 * id in every worker log line of the build it started.
 */

const BASE = "localhost/asu-e2e-metrics/imagebuilder";
const REQUEST_ID = "trace-metrics-e2e-1";
const archer = {
  version: "24.10.0",
  target: "ath79/generic",
  profile: "tplink,archer-c7-v5",
  packages: ["luci", "htop"],
  client: "luci/test-1",
};

let stack: AsuStack;
let worker: RunningWorker | undefined;
let stats: ServedApp;
let statsRedis: Redis;
let statsQueue: BuildQueue;
const workerLines: Record<string, any>[] = [];

/** The value of one series in Prometheus text (0 when absent). */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.text();
}

async function post(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.buildUrl}/api/v1/build`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
}

beforeAll(async () => {
  stack = await startAsuStack({
    baseContainer: BASE,
    images: [ATH79_24_10_DOUBLE],
    env: { SERVER_STATS: "true", METRICS_PORT: "0" },
  });
  // The statistics routes over the stack's Redis, as build-app.ts serves them once wired.
  statsRedis = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
  const app = createApiApp({
    title: "stats",
    version: "0",
    logger: silentLogger("stats"),
  });
  statsQueue = createBuildQueue({ connection: statsRedis });
  registerStatsRoutes(app, {
    redis: statsRedis,
    queue: statsQueue,
    catalog: { branches: DEFAULT_BRANCHES },
    statsCacheMs: 0,
  });
  stats = await serveApp(app);
}, 300_000);

afterAll(async () => {
  await worker?.close();
  await stats?.close();
  await statsQueue?.close();
  statsRedis?.disconnect();
  await stack?.stop();
}, 120_000);

describe("metrics, statistics and request ids over a real build", () => {
  // One build followed through every counter, in order: each step counts on
  // the ones before (a repeat of the build, totals of all requests).
  it("shows one build, a repeat, a refusal and a failure on /metrics, in the statistics and in the worker's log lines", async () => {
    let hash = "";
    // Shows the queue and the requests moving on the build tier's /metrics.
    {
      const metricsUrl = `${stack.buildUrl}/metrics`;
      const before = await scrape(metricsUrl);
      expect(sample(before, 'asu_queue_jobs{state="prioritized"}')).toBe(0);
      expect(sample(before, "asu_build_cache_misses_total")).toBe(0);

      // No worker yet: the build waits where /metrics can see it.
      const queued = await post(archer, { "X-Request-Id": REQUEST_ID });
      expect(queued.status).toBe(202);
      expect(queued.headers.get("x-request-id")).toBe(REQUEST_ID);
      hash = queued.body.request_hash;

      const waiting = await scrape(metricsUrl);
      expect(sample(waiting, 'asu_queue_jobs{state="prioritized"}')).toBe(1);
      expect(sample(waiting, "asu_build_cache_misses_total")).toBe(1);
      expect(
        sample(
          waiting,
          'asu_http_requests_total{method="POST",route="/api/v1/build",status="202"}',
        ),
      ).toBe(1);
      expect(sample(waiting, "asu_upstream_metadata_fetches_total")).toBeGreaterThan(0);
      expect(sample(waiting, 'asu_workers{state="idle"}')).toBe(0);
      // Worker series belong to workers' own /metrics.
      expect(waiting).not.toContain("asu_worker_busy");
    }

    // Shows a worker busy while it builds, then the build's durations.
    {
      const metricsPort = await freeLoopbackPort();
      const destination = new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split("\n").filter(Boolean)) {
            workerLines.push(JSON.parse(line));
          }
          done();
        },
      });
      worker = await startWorker({
        config: { ...stack.config, metrics_port: metricsPort, host: "127.0.0.1" },
        logger: createLogger({ service: "worker", level: "debug", destination }),
      });
      expect(worker.metricsUrl).toBe(`http://127.0.0.1:${metricsPort}/metrics`);
      const workerMetrics = worker.metricsUrl as string;

      const busy = await vi.waitFor(
        async () => {
          const text = await scrape(workerMetrics);
          expect(sample(text, "asu_worker_busy"), "the worker reports busy").toBe(1);
          return text;
        },
        { timeout: 60_000, interval: 25 },
      );
      expect(sample(busy, "asu_worker_builds_running")).toBe(1);
      const active = await scrape(`${stack.buildUrl}/metrics`);
      expect(sample(active, 'asu_queue_jobs{state="prioritized"}')).toBe(0);

      const done = await waitForBuild(stack.buildUrl, hash);
      expect(done.status).toBe(200);

      const after = await scrape(workerMetrics);
      expect(sample(after, "asu_worker_busy")).toBe(0);
      expect(sample(after, 'asu_build_jobs_finished_total{outcome="success"}')).toBe(1);
      expect(sample(after, 'asu_build_duration_seconds_count{outcome="success"}')).toBe(1);
      expect(sample(after, 'asu_build_duration_seconds_sum{outcome="success"}')).toBeGreaterThan(0);
      for (const stage of [
        "init",
        "container_setup",
        "validate_revision",
        "validate_manifest",
        "building_image",
      ]) {
        expect(sample(after, `asu_build_stage_duration_seconds_count{stage="${stage}"}`)).toBe(1);
      }

      const tier = await scrape(`${stack.buildUrl}/metrics`);
      expect(sample(tier, 'asu_queue_jobs{state="completed"}')).toBe(1);
      expect(sample(tier, 'asu_workers{state="idle"}')).toBe(1);
      expect(
        sample(
          tier,
          'asu_http_requests_total{method="GET",route="/api/v1/build/:request_hash",status="200"}',
        ),
      ).toBe(1);
    }

    // Counts a repeat as a cache hit.
    {
      // Without `client` the hash is the same; the client comes from the User-Agent.
      const { client: _client, ...sameBuild } = archer;
      const repeat = await post(sameBuild, { "User-Agent": "auc (0.3.2)" });
      expect(repeat.status).toBe(200);
      expect(repeat.body.request_hash).toBe(hash);
      const text = await scrape(`${stack.buildUrl}/metrics`);
      expect(sample(text, "asu_build_cache_hits_total")).toBe(1);
      expect(sample(text, "asu_build_cache_misses_total")).toBe(1);
      expect(
        sample(text, 'asu_http_requests_total{method="POST",route="/api/v1/build",status="200"}'),
      ).toBe(1);
    }

    // Counts a refused request as a request, without a client.
    {
      const refused = await post({ ...archer, version: "1.2.3" });
      expect(refused.status).toBe(400);
    }

    // Counts a build failed before the queue and logs it.
    {
      // A package no index has fails at once, on the build tier: no job for a worker.
      const failed = await post({ ...archer, packages: ["luci", "no-such-package"] });
      expect(failed.status).toBe(500);
      expect(failed.body.imagebuilder_status).toBe("failed");
      const tier = await scrape(`${stack.buildUrl}/metrics`);
      expect(sample(tier, "asu_build_failed_before_queue_total")).toBe(1);
      expect(sample(tier, 'asu_queue_jobs{state="failed"}')).toBe(0);
      const text = await scrape(worker?.metricsUrl as string);
      expect(sample(text, 'asu_build_jobs_finished_total{outcome="failure"}')).toBe(0);
      expect(failed.body.failure_kind).toBe("request");
    }

    // Fills the statistics endpoints (SERVER_STATS on).
    {
      const get = async (path: string) => (await fetch(`${stats.url}${path}`)).json() as any;

      // The build tier writes its counts within a second.
      const summary = await vi.waitFor(
        async () => {
          const body = await get("/api/v1/stats/summary");
          expect(body.events.requests, "the build tier's counts").toBe(4);
          return body;
        },
        { timeout: 60_000, interval: 25 },
      );
      expect(summary.events).toEqual({
        requests: 4,
        "cache-hits": 1,
        "cache-misses": 2,
        successes: 1,
        failures: 1,
        "failures-request": 1,
        "failures-infrastructure": 0,
        "prebuilds-enqueued": 0,
        "prebuilds-skipped": 0,
        "prebuilds-succeeded": 0,
        "prebuilds-failed": 0,
      });
      expect(summary.builds_24h).toBe(1);
      expect(summary.queue_length).toBe(0);
      expect(summary.clients).toEqual([
        { name: "luci/test-1", count: 2 },
        { name: "auc/0.3.2", count: 1 },
      ]);
      for (const stage of ["container_setup", "building_image", "total"]) {
        expect(summary.stages[stage].count).toBe(1);
      }
      expect(summary.stages.total.mean_seconds).toBeGreaterThan(0);

      const perDay = await get("/api/v1/builds-per-day");
      expect(perDay.datasets.map((set: any) => [set.label, set.data[29]])).toEqual([
        ["Requests", 4],
        ["Cache-Hits", 1],
        ["Failures", 1],
      ]);

      const byVersion = await get("/api/v1/builds-by-version");
      expect(byVersion.datasets).toEqual([{ label: "24.10", data: expect.any(Array) }]);
      expect(byVersion.datasets[0].data[25]).toBe(1);

      // Both builds asked for luci on top of the defaults; htop only the first.
      const top = await get("/api/v1/top-packages?branch=24.10&n=3");
      expect(top.packages).toEqual([
        { name: "luci", count: 2 },
        { name: "htop", count: 1 },
        { name: "no-such-package", count: 1 },
      ]);

      const errors = await (await fetch(`${stats.url}/api/v1/build-errors`)).text();
      expect(errors).toContain("Build Errors: 1 entries");
      expect(errors).toMatch(/^Time range: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) to \1$/m);
      expect(errors).toMatch(
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 24\.10\.0:ath79\/generic:tplink_archer-c7-v5 \[request\] Error: Impossible package selection: missing \(no-such-package\)$/m,
      );
    }

    // Carries the HTTP request id on every worker log line of the build.
    {
      const ofBuild = workerLines.filter((line) => JSON.stringify(line).includes(hash));
      expect(ofBuild.length).toBeGreaterThan(5);
      for (const line of ofBuild) {
        expect(line).toMatchObject({ request_hash: hash, request_id: REQUEST_ID });
      }
      const messages = new Set(ofBuild.map((line) => line.msg));
      for (const msg of ["build started", "build stage", "imagebuilder command finished"]) {
        expect(messages).toContain(msg);
      }
      expect(messages).toContain("build done");
      // One JSON object per line, each with a level and a time.
      for (const line of workerLines) {
        expect(line).toEqual(
          expect.objectContaining({ level: expect.any(String), time: expect.any(String) }),
        );
      }
    }
  }, 240_000);
});
