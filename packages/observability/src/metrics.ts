import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/*
 * The Prometheus frame every process shares: registries, the kinds of metric
 * the tiers define theirs with, and a bare /metrics listener. Each tier
 * defines its own metrics in its package; the HTTP request metrics live with
 * the API frame (packages/http). No Hono here: the worker, which serves no
 * API, uses these too. Each app (and each worker) has its own registry, so
 * several of them can live in one process (tests, the one-process server);
 * the Node process metrics are one shared registry appended to every answer.
 */

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const registries = new WeakMap<object, Registry>();

/** The registry of an app or worker, made on first use. */
export function metricsRegistry(owner: object): Registry {
  let registry = registries.get(owner);
  if (!registry) {
    registry = new Registry();
    registries.set(owner, registry);
  }
  return registry;
}

let processRegistry: Registry | undefined;

/** CPU, memory, event loop lag, GC: once per process, however many apps it runs. */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The Prometheus text of a registry, followed by the process metrics. */
export async function metricsText(registry: Registry): Promise<string> {
  return `${await registry.metrics()}\n${await processMetrics().metrics()}`;
}

/** A counter whose value is read from elsewhere when Prometheus scrapes it. */
export function collectedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
) {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * A gauge read at scrape time, one series per label value: queue depth by
 * state, workers by state. A failed read leaves the gauge empty for that
 * scrape (Prometheus shows the gap) instead of failing the whole answer.
 */
export function registerCollectedGauge(
  registry: Registry,
  options: {
    name: string;
    help: string;
    labelName: string;
    read: () => Promise<Record<string, number>>;
    onError?: (error: Error) => void;
  },
): void {
  if (registry.getSingleMetric(options.name)) return;
  new Gauge({
    name: options.name,
    help: options.help,
    labelNames: [options.labelName],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const [label, value] of Object.entries(await options.read())) {
          this.set({ [options.labelName]: label }, value);
        }
      } catch (error) {
        options.onError?.(error as Error);
      }
    },
  });
}

/** A counter bumped on a hot path: a plain number, read by the registry when scraped. */
export function plainCounter(registry: Registry, name: string, help: string): { inc(): void } {
  let value = 0;
  collectedCounter(registry, name, help, () => value);
  return {
    inc() {
      value += 1;
    },
  };
}

/** Made once per registry, so registering twice on one app cannot collide. */
export function oncePerRegistry<T>(make: (registry: Registry) => T): (registry: Registry) => T {
  const made = new WeakMap<Registry, T>();
  return (registry) => {
    let value = made.get(registry);
    if (value === undefined) {
      value = make(registry);
      made.set(registry, value);
    }
    return value;
  };
}

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

export interface ServeMetricsOptions {
  port: number;
  host: string;
  /**
   * Answers `GET /health`: 200 `{"status":"ok"}` while true, else 503
   * `{"status":"error"}`, so a container healthcheck is one fetch.
   */
  healthy?: () => boolean;
}

/**
 * `GET /metrics` (and `/health` when given) on its own port, for processes
 * without an HTTP API (the worker). Anything else is 404.
 */
export async function serveMetrics(
  registry: Registry,
  options: ServeMetricsOptions,
): Promise<MetricsListener> {
  const { healthy } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    const readable = request.method === "GET" || request.method === "HEAD";
    if (path === "/health" && healthy && readable) {
      const ok = healthy();
      response.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      response.end(
        request.method === "HEAD" ? undefined : JSON.stringify({ status: ok ? "ok" : "error" }),
      );
      return;
    }
    if (path !== "/metrics" || !readable) {
      response.writeHead(404, { "content-type": "text/plain" }).end("Not Found\n");
      return;
    }
    metricsText(registry).then(
      (text) => {
        response.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
        response.end(request.method === "HEAD" ? undefined : text);
      },
      () => response.writeHead(500, { "content-type": "text/plain" }).end("metrics failed\n"),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
