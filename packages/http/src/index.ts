export {
  type ApiApp,
  type ApiAppOptions,
  type ApiEnv,
  createApiApp,
  fastApiHook,
} from "./api-app.ts";
export { apiCors } from "./cors.ts";
export {
  type BodyText,
  type JsonBody,
  MAX_BODY_BYTES,
  orderedJson,
  parseJsonBody,
  rawBody,
  readBodyText,
  readJsonBody,
} from "./json-body.ts";
export { createLogger, type Logger } from "./logger.ts";
export {
  type CacheMetrics,
  cacheMetrics,
  httpMetrics,
  METRICS_CONTENT_TYPE,
  type MetadataStatsSource,
  type MetricsListener,
  metricsRegistry,
  metricsText,
  refusedBuildMetrics,
  registerCollectedGauge,
  registerUpstreamMetrics,
  type ServeMetricsOptions,
  serveMetrics,
  type WorkerMetrics,
  workerMetrics,
} from "./metrics.ts";
export { queryBoolean, queryPositiveInteger } from "./query-schemas.ts";
export { type RequestVariables, requestContext } from "./request-context.ts";
export { setResponseHeader } from "./response-headers.ts";
export { type CoverageOptions, undocumentedRoutes } from "./route-coverage.ts";
export { documentedPathOf, openapiAt } from "./route-pattern.ts";
export { type ClosableServer, gracefulStop, stopOnSignals } from "./stop-on-signals.ts";
