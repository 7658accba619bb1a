import { badRequest } from "@asu/contract";
import { metricsRegistry, registerCollectedGauge } from "@asu/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sample, scrape } from "../../../test/support/prometheus-text.ts";
import { type ServedApp, serveApp } from "../../../test/support/serve-app.ts";
import { silentLogger } from "../../../test/support/silent-logger.ts";
import { type ApiApp, createApiApp } from "./api-app.ts";

const silent = silentLogger("test");

let app: ApiApp;
let served: ServedApp;
let depth: Record<string, number> | Error = { waiting: 0 };

beforeAll(async () => {
  app = createApiApp({ title: "t", version: "0", logger: silent });
  app.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
  app.get("/bad", () => {
    throw badRequest("no");
  });
  const registry = metricsRegistry(app);
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

const scrapeApp = () => scrape(`${served.url}/metrics`);

describe("/metrics of an API app", () => {
  it("counts answers by route pattern and status, never by raw path", async () => {
    for (const id of ["a", "b", "c"]) await fetch(`${served.url}/items/${id}`);
    await fetch(`${served.url}/bad`);
    await fetch(`${served.url}/nowhere/${Math.random()}`);

    const text = await scrapeApp();
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

  it("reads collected gauges at scrape time, by label", async () => {
    depth = { waiting: 3, active: 1 };
    let text = await scrapeApp();
    expect(sample(text, 'test_queue_jobs{state="waiting"}')).toBe(3);
    expect(sample(text, 'test_queue_jobs{state="active"}')).toBe(1);

    depth = new Error("redis down");
    text = await scrapeApp();
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
