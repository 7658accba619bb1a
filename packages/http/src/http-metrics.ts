import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { Counter, Histogram, type Registry } from "prom-client";

/** Latency buckets of API answers: most are served from memory in under a millisecond. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

const REQUESTS_METRIC = "asu_http_requests_total";
const DURATION_METRIC = "asu_http_request_duration_seconds";

type HttpLabel = "method" | "route" | "status";

/** One method/route/status: prom-client's children for it, so a request hashes no labels. */
interface HttpSeries {
  requests: Counter.Internal;
  duration: Histogram.Internal<HttpLabel>;
}

/**
 * Counts every answer and its latency by method, route and status. The route
 * is the matched pattern (`/api/v1/build/:request_hash`), never the raw path,
 * so the series stay few; answers no route gave (404s, preflights) read `/*`.
 */
export function httpMetrics(registry: Registry): MiddlewareHandler {
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({
    name: REQUESTS_METRIC,
    help: "HTTP requests answered, by method, route pattern and status",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: DURATION_METRIC,
    help: "Time to answer an HTTP request, by method, route pattern and status",
    labelNames,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  const series = new Map<string, HttpSeries>();

  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const method = c.req.method;
    const route = routePath(c) || "/*";
    const status = c.res.status;
    const key = `${method} ${status} ${route}`;
    let entry = series.get(key);
    if (!entry) {
      const labels = { method, route, status: String(status) };
      entry = { requests: requests.labels(labels), duration: duration.labels(labels) };
      series.set(key, entry);
    }
    entry.requests.inc();
    entry.duration.observe(seconds);
  };
}
