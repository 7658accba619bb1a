import { Writable } from "node:stream";
import { badRequest } from "@asu/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { type ApiApp, createApiApp } from "./api-app.ts";
import { createLogger } from "./logger.ts";
import {
  cacheMetrics,
  metricsRegistry,
  registerCollectedGauge,
  registerUpstreamMetrics,
  serveMetrics,
  workerMetrics,
} from "./metrics.ts";

const silent = createLogger({
  service: "test",
  destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let app: ApiApp;
let served: ServedApp;
let upstream = { fetches: 0, failures: 0, hits: 0 };
let depth: Record<string, number> | Error = { waiting: 0 };

beforeAll(async () => {
  app = createApiApp({ title: "t", version: "0", logger: silent });
  app.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
  app.get("/bad", () => {
    throw badRequest("no");
  });
  const registry = metricsRegistry(app);
  registerUpstreamMetrics(registry, { stats: () => upstream });
  registerCollectedGauge(registry, {
    name: "test_queue_jobs",
    help: "jobs",
    labelName: "state",
    read: async () => {
      if (depth instanceof Error) throw depth;
      return depth;
    },
  });
  served = await serveApp(app);
});
afterAll(async () => {
  await served?.close();
});

async function scrape(url = `${served.url}/metrics`): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

describe("/metrics of an API app", () => {
  it("counts answers by route pattern and status, never by raw path", async () => {
    for (const id of ["a", "b", "c"]) await fetch(`${served.url}/items/${id}`);
    await fetch(`${served.url}/bad`);
    await fetch(`${served.url}/nowhere/${Math.random()}`);

    const text = await scrape();
    expect(
      sample(text, 'asu_http_requests_total{method="GET",route="/items/:id",status="200"}'),
    ).toBe(3);
    expect(sample(text, 'asu_http_requests_total{method="GET",route="/bad",status="400"}')).toBe(1);
    expect(sample(text, 'asu_http_requests_total{method="GET",route="/*",status="404"}')).toBe(1);
    expect(text).not.toContain("/items/a");
    expect(text).not.toContain("/nowhere/");
    expect(
      sample(
        text,
        'asu_http_request_duration_seconds_count{method="GET",route="/items/:id",status="200"}',
      ),
    ).toBe(3);
    const items = 'method="GET",route="/items/:id",status="200"';
    expect(text).toContain("# TYPE asu_http_request_duration_seconds histogram");
    expect(sample(text, `asu_http_request_duration_seconds_bucket{le="+Inf",${items}}`)).toBe(3);
    expect(sample(text, `asu_http_request_duration_seconds_bucket{le="10",${items}}`)).toBe(3);
    const bounds = text
      .split("\n")
      .filter(
        (line) =>
          line.startsWith("asu_http_request_duration_seconds_bucket") && line.includes(items),
      )
      .map((line) => Number(line.split(" ")[1]));
    expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
    expect(sample(text, `asu_http_request_duration_seconds_sum{${items}}`)).toBeGreaterThan(0);
    // The process metrics follow the app's own.
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toContain("nodejs_eventloop_lag_seconds");
  });

  it("reads collectors at scrape time: upstream counters, gauges by label", async () => {
    upstream = { fetches: 7, failures: 2, hits: 40 };
    depth = { waiting: 3, active: 1 };
    let text = await scrape();
    expect(sample(text, "asu_upstream_metadata_fetches_total")).toBe(7);
    expect(sample(text, "asu_upstream_metadata_failures_total")).toBe(2);
    expect(sample(text, "asu_upstream_metadata_cache_hits_total")).toBe(40);
    expect(sample(text, 'test_queue_jobs{state="waiting"}')).toBe(3);
    expect(sample(text, 'test_queue_jobs{state="active"}')).toBe(1);

    upstream = { fetches: 8, failures: 2, hits: 41 };
    depth = new Error("redis down");
    text = await scrape();
    expect(sample(text, "asu_upstream_metadata_fetches_total")).toBe(8);
    // A failed read leaves a gap, and the rest of the answer stands.
    expect(sample(text, 'test_queue_jobs{state="waiting"}')).toBeUndefined();
  });

  it("documents /metrics in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${served.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toContain("/metrics");
  });

  it("keeps apps in one process apart", async () => {
    const other = createApiApp({ title: "t", version: "0", logger: silent });
    const res = await other.request("/metrics");
    const text = await res.text();
    expect(text).not.toContain('route="/items/:id"');
  });
});

describe("worker metrics and a bare metrics listener", () => {
  it("defines each metric set once per registry", () => {
    const owner = {};
    const first = workerMetrics(metricsRegistry(owner));
    expect(workerMetrics(metricsRegistry(owner))).toBe(first);
    expect(cacheMetrics(metricsRegistry(owner))).toBe(cacheMetrics(metricsRegistry(owner)));
  });

  it("serves GET /metrics on its own port and 404 for anything else", async () => {
    const owner = {};
    const metrics = workerMetrics(metricsRegistry(owner));
    metrics.jobsFinished.inc({ outcome: "success" });
    metrics.buildDuration.observe({ outcome: "success" }, 12);
    const listener = await serveMetrics(metricsRegistry(owner), { port: 0, host: "127.0.0.1" });
    try {
      const text = await scrape(listener.url);
      expect(sample(text, 'asu_build_jobs_finished_total{outcome="success"}')).toBe(1);
      expect(sample(text, 'asu_build_duration_seconds_count{outcome="success"}')).toBe(1);
      expect(sample(text, 'asu_build_duration_seconds_bucket{le="20",outcome="success"}')).toBe(1);
      expect(sample(text, "asu_worker_busy")).toBe(0);
      expect((await fetch(listener.url.replace("/metrics", "/other"))).status).toBe(404);
    } finally {
      await listener.close();
    }
  });

  it("answers GET /health from the given check, and 404 without one", async () => {
    let healthy = true;
    const listener = await serveMetrics(metricsRegistry({}), {
      port: 0,
      host: "127.0.0.1",
      healthy: () => healthy,
    });
    const bare = await serveMetrics(metricsRegistry({}), { port: 0, host: "127.0.0.1" });
    try {
      const health = listener.url.replace("/metrics", "/health");
      const ok = await fetch(health);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ status: "ok" });
      healthy = false;
      const down = await fetch(health);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: "error" });
      expect((await fetch(bare.url.replace("/metrics", "/health"))).status).toBe(404);
    } finally {
      await listener.close();
      await bare.close();
    }
  });

  it("refuses a port in use instead of failing later", async () => {
    const first = await serveMetrics(metricsRegistry({}), { port: 0, host: "127.0.0.1" });
    try {
      const port = Number(new URL(first.url).port);
      await expect(serveMetrics(metricsRegistry({}), { port, host: "127.0.0.1" })).rejects.toThrow(
        /EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});
