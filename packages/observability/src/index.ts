export { createLogger, type Logger } from "./logger.ts";
export {
  type CacheMetrics,
  cacheMetrics,
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
