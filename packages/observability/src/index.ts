export { createLogger, type Logger } from "./logger.ts";
export {
  collectedCounter,
  METRICS_CONTENT_TYPE,
  type MetricsListener,
  metricsRegistry,
  metricsText,
  oncePerRegistry,
  plainCounter,
  registerCollectedGauge,
  type ServeMetricsOptions,
  serveMetrics,
} from "./metrics.ts";
