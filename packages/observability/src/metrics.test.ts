import { describe, expect, it } from "vitest";
import { sample, scrape } from "../../../test/support/prometheus-text.ts";
import { cacheMetrics, metricsRegistry, serveMetrics, workerMetrics } from "./metrics.ts";

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
