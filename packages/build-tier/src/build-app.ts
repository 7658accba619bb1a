import { type ApiApp, createApiApp } from "@asu/http";
import { type Logger, metricsRegistry } from "@asu/observability";
import { registerPages } from "@asu/pages";
import type { BuildQueue } from "@asu/queue";
import type { StatsRecorder } from "@asu/stats";
import type { BuildStore } from "@asu/store";
import {
  createPackageIndexes,
  type MetadataClient,
  type OpenwrtCatalog,
  type PackageIndexes,
} from "@asu/upstream";
import type { Redis } from "ioredis";
import { registerBuildCacheRoute } from "./build-cache-route.ts";
import { refusedBuildMetrics } from "./build-metrics.ts";
import { type BuildRouteDeps, registerBuildRoutes } from "./build-routes.ts";
import { createEtaSource } from "./eta-source.ts";
import { registerHealthRoute } from "./health-route.ts";
import { registerJsonApi } from "./json-api.ts";
import { createPackageCheck, NO_PACKAGE_CHECK } from "./package-check.ts";
import { registerRedirects } from "./redirects.ts";
import { redisUnavailable } from "./redis-errors.ts";
import { registerRevisionRoute } from "./revision-route.ts";
import { registerStatsRoutes } from "./stats-routes.ts";
import { registerStoreRoute } from "./store-route.ts";

export interface BuildAppDeps {
  catalog: OpenwrtCatalog;
  client: MetadataClient;
  queue: BuildQueue;
  redis: Redis;
  store: BuildStore;
  settings: BuildRouteDeps["settings"] & {
    upstream_url: string;
    /** SERVER_STATS. */
    server_stats?: boolean;
    server_contact?: string | undefined;
    /** PACKAGE_CHECK: check packages against the indexes before queueing (default on). */
    package_check?: boolean;
    /** Where the build page asks prepare; empty = the same origin. */
    prepare_api_url?: string | undefined;
  };
  logger: Logger;
  /** The build tier's one statistics recorder (summed in memory, written once a second). */
  stats: StatsRecorder;
  version?: string;
  /** Popular release requests, remembered from POSTs and shown by /api/v1/stats. */
  popular?: BuildRouteDeps["popular"];
  /** The package indexes both tiers check requests against; default: read through `client`. */
  indexes?: PackageIndexes;
}

/** The methods each build path answers; the app answers 405 to the others. */
export const ALLOWED_METHODS: Readonly<Record<string, string>> = {
  "/api/v1/build": "POST, OPTIONS",
  "/api/v1/build/:request_hash": "GET, HEAD, OPTIONS",
};

/** The package check before the queue, which counts with the tier's statistics recorder. */
function buildTierRecorders(app: ApiApp, deps: BuildAppDeps) {
  const { settings, redis, stats } = deps;
  if (settings.package_check === false) return { stats, packageCheck: NO_PACKAGE_CHECK };
  const indexes =
    deps.indexes ?? createPackageIndexes({ client: deps.client, branches: deps.catalog.branches });
  const packageCheck = createPackageCheck({
    indexes,
    redis,
    stats,
    onRefused: refusedBuildMetrics(metricsRegistry(app)).refused.inc,
  });
  return { stats, packageCheck };
}

export function createBuildApp(deps: BuildAppDeps): ApiApp {
  const app = createApiApp({
    title: "ASU build tier",
    version: deps.version ?? "0.1.0",
    description:
      "Queues firmware builds, answers status polls and serves results and OpenWrt metadata.",
    logger: deps.logger,
    mapError: redisUnavailable,
  });
  // First: `//path` is redirected before any route could match it.
  registerRedirects(app);
  // One reading of workers and build durations serves the API's answers and the home page.
  const eta = createEtaSource({
    queue: deps.queue,
    redis: deps.redis,
    onError: (error) => deps.logger.warn({ err: error.message }, "reading wait estimates failed"),
  });
  registerBuildRoutes(app, { ...deps, eta, ...buildTierRecorders(app, deps) });
  registerBuildCacheRoute(app, deps);
  registerStatsRoutes(app, deps);
  registerHealthRoute(app, deps);
  registerRevisionRoute(app, deps);
  registerJsonApi(app, {
    catalog: deps.catalog,
    client: deps.client,
    version: deps.version ?? "0.1.0",
    settings: {
      upstream_url: deps.settings.upstream_url,
      server_contact: deps.settings.server_contact ?? "",
      allow_defaults: deps.settings.allow_defaults,
      repository_allow_list: [...deps.settings.repository_allow_list],
      max_custom_rootfs_size_mb: deps.settings.max_custom_rootfs_size_mb,
      max_defaults_length: deps.settings.max_defaults_length,
    },
  });
  registerStoreRoute(app, deps);
  registerPages(app, { ...deps, eta });

  // FastAPI answers a known path with the wrong method 405, and clients show that text.
  for (const [path, allow] of Object.entries(ALLOWED_METHODS)) {
    app.on(
      ["PUT", "PATCH", "DELETE", ...(path === "/api/v1/build" ? ["GET"] : ["POST"])],
      path,
      (c) => {
        c.header("Allow", allow);
        return c.json({ detail: "Method Not Allowed" }, 405);
      },
    );
  }
  return app;
}
