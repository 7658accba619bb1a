import { metricsRegistry, metricsText } from "@asu/observability";
import { describe, expect, it } from "vitest";
import { sample } from "../../../test/support/prometheus-text.ts";
import { registerUpstreamMetrics } from "./upstream-metrics.ts";

describe("upstream metadata metrics", () => {
  it("read the client's counts at scrape time, once however often registered", async () => {
    let upstream = { fetches: 7, failures: 2, hits: 40 };
    const registry = metricsRegistry({});
    registerUpstreamMetrics(registry, { stats: () => upstream });
    registerUpstreamMetrics(registry, { stats: () => upstream });
    let text = await metricsText(registry);
    expect(sample(text, "asu_upstream_metadata_fetches_total")).toBe(7);
    expect(sample(text, "asu_upstream_metadata_failures_total")).toBe(2);
    expect(sample(text, "asu_upstream_metadata_cache_hits_total")).toBe(40);

    upstream = { fetches: 8, failures: 2, hits: 41 };
    text = await metricsText(registry);
    expect(sample(text, "asu_upstream_metadata_fetches_total")).toBe(8);
  });
});
