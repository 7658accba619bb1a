import { metricsRegistry, metricsText } from "@asu/observability";
import { describe, expect, it } from "vitest";
import { sample } from "../../../test/support/prometheus-text.ts";
import { workerMetrics } from "./worker-metrics.ts";

describe("worker metrics", () => {
  it("are defined once per registry", () => {
    const owner = {};
    expect(workerMetrics(metricsRegistry(owner))).toBe(workerMetrics(metricsRegistry(owner)));
  });

  it("count outcomes and durations, and start idle", async () => {
    const registry = metricsRegistry({});
    const metrics = workerMetrics(registry);
    metrics.jobsFinished.inc({ outcome: "success" });
    metrics.buildDuration.observe({ outcome: "success" }, 12);
    const text = await metricsText(registry);
    expect(sample(text, 'asu_build_jobs_finished_total{outcome="success"}')).toBe(1);
    expect(sample(text, 'asu_build_duration_seconds_count{outcome="success"}')).toBe(1);
    expect(sample(text, 'asu_build_duration_seconds_bucket{le="20",outcome="success"}')).toBe(1);
    expect(sample(text, "asu_worker_busy")).toBe(0);
  });
});
