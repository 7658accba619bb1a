import { describe, expect, it } from "vitest";
import { sample, scrape } from "../../../test/support/prometheus-text.ts";
import { metricsRegistry, oncePerRegistry, plainCounter, serveMetrics } from "./metrics.ts";

const things = oncePerRegistry((registry) =>
  plainCounter(registry, "test_things_total", "Things counted by the test"),
);

describe("metric sets and a bare metrics listener", () => {
  it("defines each metric set once per registry", () => {
    const owner = {};
    expect(things(metricsRegistry(owner))).toBe(things(metricsRegistry(owner)));
    expect(things(metricsRegistry({}))).not.toBe(things(metricsRegistry(owner)));
  });

  it("serves GET /metrics on its own port and 404 for anything else", async () => {
    const owner = {};
    things(metricsRegistry(owner)).inc();
    const listener = await serveMetrics(metricsRegistry(owner), { port: 0, host: "127.0.0.1" });
    try {
      const text = await scrape(listener.url);
      expect(sample(text, "test_things_total")).toBe(1);
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
